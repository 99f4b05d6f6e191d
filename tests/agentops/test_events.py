"""core.events: declared topics, delivery after commit, a failing handler isolated."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from core import events
from core.events import EventBus, EventError

TOPICS = {"leads.changed": frozenset({"lead_ids"}), "consent.withdrawn": frozenset({"lead_ids", "channels"})}


@pytest.fixture
def bus() -> EventBus:
    return EventBus(TOPICS)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, **payload: object) -> None:
        self.calls.append(payload)


def failing_handler(**payload: object) -> None:
    raise RuntimeError("the broker is down")


# --- declarations: a typo is an error at the call ------------------------------------------------


def test_it_refuses_to_subscribe_to_an_undeclared_topic(bus):
    with pytest.raises(EventError, match=r"unknown event topic 'lead.changed'.*leads\.changed"):
        bus.subscribe("lead.changed", Recorder())


def test_it_refuses_to_publish_an_undeclared_topic(bus):
    with pytest.raises(EventError, match="unknown event topic 'leads.chnaged'"):
        bus.publish("leads.chnaged", lead_ids=[1])


def test_it_refuses_a_payload_missing_a_declared_field(bus):
    with pytest.raises(
        EventError, match=r"consent\.withdrawn: .*\['channels', 'lead_ids'\], got \['lead_ids'\]"
    ):
        bus.publish("consent.withdrawn", lead_ids=[1])


def test_it_refuses_a_payload_with_an_undeclared_field(bus):
    with pytest.raises(EventError, match=r"got \['ids'\]"):
        bus.publish("leads.changed", ids=[1])


def test_it_checks_the_payload_even_when_nobody_subscribed(bus):
    with pytest.raises(EventError):
        bus.publish("leads.changed")


def test_the_project_declares_the_topics_its_apps_use():
    assert set(events.TOPICS) == {
        "leads.changed",
        "leads.scored",
        "mail.bounced",
        "sms.stopped",
        "actions.decided",
    }
    assert events.subscribe == events.bus.subscribe and events.publish == events.bus.publish


def test_the_apps_subscribe_their_follow_ups_at_startup():
    from notifications.slack.services import slack_cards_after_decision
    from privacy.services import mail_bounces_suppress, sms_channel_suppress
    from sales.tasks import playbooks_after_scoring
    from scoring.tasks import rescore_changed_leads

    assert rescore_changed_leads in events.bus.subscribers("leads.changed")
    assert playbooks_after_scoring in events.bus.subscribers("leads.scored")
    assert mail_bounces_suppress in events.bus.subscribers("mail.bounced")
    assert slack_cards_after_decision in events.bus.subscribers("actions.decided")
    assert sms_channel_suppress in events.bus.subscribers("sms.stopped")


# --- delivery after commit -----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_delivers_only_after_the_transaction_commits(bus, django_capture_on_commit_callbacks):
    seen = Recorder()
    bus.subscribe("leads.changed", seen)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            bus.publish("leads.changed", lead_ids=[1, 2])
            assert seen.calls == []
        assert seen.calls == []  # still inside the test's transaction
    assert seen.calls == [{"lead_ids": [1, 2]}]


@pytest.mark.django_db
def test_it_never_delivers_what_was_rolled_back(bus, django_capture_on_commit_callbacks):
    seen = Recorder()
    bus.subscribe("leads.changed", seen)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            bus.publish("leads.changed", lead_ids=[1])
            1 / 0  # noqa: B018
    assert callbacks == [] and seen.calls == []


@pytest.mark.django_db(transaction=True)
def test_it_delivers_at_once_outside_a_transaction(bus):
    seen = Recorder()
    bus.subscribe("leads.changed", seen)
    bus.publish("leads.changed", lead_ids=[7])
    assert seen.calls == [{"lead_ids": [7]}]


@pytest.mark.django_db
def test_it_delivers_to_every_subscriber_in_subscription_order(bus, django_capture_on_commit_callbacks):
    order: list[str] = []
    bus.subscribe("leads.changed", lambda lead_ids: order.append("first"))
    bus.subscribe("leads.changed", lambda lead_ids: order.append("second"))
    with django_capture_on_commit_callbacks(execute=True):
        bus.publish("leads.changed", lead_ids=[1])
    assert order == ["first", "second"]


@pytest.mark.django_db
def test_subscribing_the_same_handler_twice_delivers_once(bus, django_capture_on_commit_callbacks):
    seen = Recorder()
    bus.subscribe("leads.changed", seen)
    bus.subscribe("leads.changed", seen)
    with django_capture_on_commit_callbacks(execute=True):
        bus.publish("leads.changed", lead_ids=[1])
    assert len(seen.calls) == 1


@pytest.mark.django_db
def test_a_topic_delivers_only_to_its_own_subscribers(bus, django_capture_on_commit_callbacks):
    changed, withdrawn = Recorder(), Recorder()
    bus.subscribe("leads.changed", changed)
    bus.subscribe("consent.withdrawn", withdrawn)
    with django_capture_on_commit_callbacks(execute=True):
        bus.publish("consent.withdrawn", lead_ids=[3], channels=["email"])
    assert changed.calls == [] and withdrawn.calls == [{"lead_ids": [3], "channels": ["email"]}]


@pytest.mark.django_db
def test_a_publish_without_subscribers_queues_nothing(bus, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        bus.publish("leads.changed", lead_ids=[1])
    assert callbacks == []


@pytest.mark.django_db
def test_a_subscriber_added_after_the_publish_is_not_called_for_it(bus, django_capture_on_commit_callbacks):
    late = Recorder()
    with django_capture_on_commit_callbacks(execute=True):
        bus.subscribe("leads.changed", Recorder())
        bus.publish("leads.changed", lead_ids=[1])
        bus.subscribe("leads.changed", late)
    assert late.calls == []


# --- a failing handler ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_handler_is_logged_and_the_others_still_run(
    bus, django_capture_on_commit_callbacks, caplog
):
    before, after = Recorder(), Recorder()
    bus.subscribe("leads.changed", before)
    bus.subscribe("leads.changed", failing_handler)
    bus.subscribe("leads.changed", after)
    with caplog.at_level(logging.ERROR, logger="core.events"):
        with django_capture_on_commit_callbacks(execute=True):
            bus.publish("leads.changed", lead_ids=[1])
    assert before.calls == after.calls == [{"lead_ids": [1]}]
    [record] = caplog.records
    assert record.getMessage() == (
        "event handler tests.agentops.test_events.failing_handler for leads.changed failed"
    )
    assert record.exc_info is not None and "the broker is down" in str(record.exc_info[1])


@pytest.mark.django_db(transaction=True)
def test_a_failing_handler_does_not_fail_the_publisher_outside_a_transaction(bus, caplog):
    after = Recorder()
    bus.subscribe("leads.changed", failing_handler)
    bus.subscribe("leads.changed", after)
    with caplog.at_level(logging.ERROR, logger="core.events"):
        bus.publish("leads.changed", lead_ids=[1])  # does not raise
    assert after.calls == [{"lead_ids": [1]}]
    assert len(caplog.records) == 1
