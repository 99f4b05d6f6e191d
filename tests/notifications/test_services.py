"""notify_pending: who hears about what, once, over email and Slack; time is passed in as ``now``."""

import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import ApprovalPolicy, EscalationStep
from approvals.services import action_approve, action_route, actions_escalate_overdue
from notifications.models import Notification
from notifications.services import notifications_send_pending
from tests.factories import LeadFactory, ProposedActionFactory, UserFactory, payload_seen

pytestmark = pytest.mark.django_db


def _pending(group, **kwargs):
    return ProposedActionFactory(status="pending_approval", approver_group=group, **kwargs)


def _to(outbox=None):
    return sorted(m.to[0] for m in (mail.outbox if outbox is None else outbox))


def test_it_emails_the_group_about_a_new_high_priority_item_with_a_deep_link(team, config):
    action = _pending(team.group, risk_level="high", rationale="Asked for a demo twice.")

    summary = notifications_send_pending()

    assert _to() == ["liam@example.com", "sofia@example.com"]  # not the address-less, inactive or outsider
    first = mail.outbox[0]
    assert first.subject.startswith("[AgentOps] New high-priority item: Enrol in cadence — Ada Lovelace")
    assert f"https://agentops.example.com/approvals/{action.pk}/" in first.body
    assert "Asked for a demo twice." in first.body
    assert (summary.sent, summary.failed) == (2, 0)
    rows = Notification.objects.filter(action=action)
    assert {(n.kind, n.channel, n.status, n.recipient_id) for n in rows} == {
        ("new_high_priority", "email", "sent", team.owner.pk),
        ("new_high_priority", "email", "sent", team.teammate.pk),
    }


def test_running_twice_sends_each_message_once(team, config):
    _pending(team.group, risk_level="critical")
    notifications_send_pending()
    again = notifications_send_pending()
    assert len(mail.outbox) == 2
    assert (again.sent, again.skipped) == (0, 2)


def test_an_ordinary_item_is_not_announced_but_a_big_deal_is(team, config):
    _pending(team.group, risk_level="medium", lead=LeadFactory(deal_value=Decimal(10000)))
    big = _pending(team.group, risk_level="low", lead=LeadFactory(deal_value=Decimal(75000)))
    assert notifications_send_pending().sent == 0

    config.high_priority_impact_at_least = Decimal(50000)
    config.save()
    notifications_send_pending()
    assert {n.action_id for n in Notification.objects.all()} == {big.pk}


def test_decided_items_are_not_announced(team, config):
    action = action_route(action_id=ProposedActionFactory(risk_level="high").pk)
    action_approve(action_id=action.pk, user=UserFactory(), seen_payload_sha256=payload_seen(action.pk))
    assert notifications_send_pending().sent == 0


def test_it_warns_once_per_sla_when_an_item_nears_it(team, config):
    now = timezone.now()
    action = _pending(team.group, sla_due_at=now + timedelta(minutes=45))

    assert notifications_send_pending(now=now).sent == 0
    assert notifications_send_pending(now=now + timedelta(minutes=20)).sent == 2
    assert mail.outbox[0].subject.startswith("[AgentOps] Due in 25 min: Enrol in cadence")
    assert notifications_send_pending(now=now + timedelta(minutes=25)).sent == 0

    # A new SLA (someone moved it, or it reached the top of the ladder) warns again.
    action.sla_due_at = now + timedelta(minutes=80)
    action.save(update_fields=["sla_due_at"])
    assert notifications_send_pending(now=now + timedelta(minutes=60)).sent == 2
    assert Notification.objects.filter(kind="near_sla").count() == 4


def test_after_an_escalation_the_new_group_is_told(team, config):
    directors = Group.objects.create(name="Sales directors")
    director = UserFactory(username="dana")
    director.groups.add(directors)
    EscalationStep.objects.create(group=team.group, escalate_to=directors, sla_minutes=120)
    ApprovalPolicy.objects.create(
        name="sales", outcome="one_approval", approver_group=team.group, sla_minutes=60
    )
    action = action_route(action_id=ProposedActionFactory().pk)
    later = action.sla_due_at + timedelta(minutes=1)

    assert actions_escalate_overdue(now=later).escalated == 1
    notifications_send_pending(now=later)

    assert _to() == ["dana@example.com"]
    assert mail.outbox[0].subject.startswith("[AgentOps] Escalated to Sales directors: Enrol in cadence")
    assert "Sales directors (escalation level 1)" in mail.outbox[0].body
    assert Notification.objects.get().dedupe_key == f"escalated:{action.pk}:1:email:{director.pk}"
    assert notifications_send_pending(now=later + timedelta(minutes=1)).sent == 0


def test_a_failing_webhook_is_recorded_retried_later_and_does_not_stop_email(team, config, slack):
    config.slack_webhook_url = slack.url
    config.save()
    slack.status = 500
    action = _pending(team.group, risk_level="high")
    now = timezone.now()

    summary = notifications_send_pending(now=now)

    assert (summary.sent, summary.failed) == (2, 1) and len(mail.outbox) == 2
    failed = Notification.objects.get(channel="slack")
    assert (failed.status, failed.retryable, failed.error) == (
        "failed",
        True,
        "slack: HTTP 500 Internal Server Error",
    )
    assert failed.next_attempt_at == now + timedelta(minutes=2)

    slack.status = 200
    assert notifications_send_pending(now=now + timedelta(minutes=1)).retried == 0
    retry = notifications_send_pending(now=now + timedelta(minutes=2))
    assert (retry.retried, retry.sent) == (1, 1)
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("sent", 2, None)
    assert [r["json"]["text"] for r in slack.received][-1].endswith(
        f"<https://agentops.example.com/approvals/{action.pk}/|Open in AgentOps>"
    )
    assert len(mail.outbox) == 2  # the emails were not sent again


def test_a_failure_is_given_up_after_three_attempts_or_once_the_item_is_decided(team, config, slack):
    config.slack_webhook_url = slack.url
    config.save()
    slack.status = 503
    _pending(team.group, risk_level="high")
    now = timezone.now()
    for minutes in (0, 2, 12, 60):
        notifications_send_pending(now=now + timedelta(minutes=minutes))
    row = Notification.objects.get(channel="slack")
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 3, None)
    assert len(slack.received) == 3

    decided = action_route(action_id=ProposedActionFactory(risk_level="high", approver_group=team.group).pk)
    notifications_send_pending(now=now)
    action_approve(action_id=decided.pk, user=team.outsider, seen_payload_sha256=payload_seen(decided.pk))
    assert notifications_send_pending(now=now + timedelta(minutes=5)).retried == 0


def test_an_item_routed_to_no_group_is_announced_on_slack_only(team, config, slack):
    config.slack_webhook_url = slack.url
    config.save()
    action = _pending(None, risk_level="high")
    notifications_send_pending()
    assert mail.outbox == []
    (posted,) = slack.received
    assert f"#{action.pk}" in posted["json"]["text"] and "Ada" not in posted["json"]["text"]


def test_nothing_is_sent_when_notifications_are_switched_off(team, config, slack):
    config.enabled = False
    config.slack_webhook_url = slack.url
    config.save()
    _pending(team.group, risk_level="critical", sla_due_at=timezone.now() + timedelta(minutes=5))
    assert notifications_send_pending().sent == 0
    assert (mail.outbox, slack.received, Notification.objects.count()) == ([], [], 0)


def test_email_can_be_switched_off_leaving_slack(team, config, slack):
    config.email_enabled = False
    config.slack_webhook_url = slack.url
    config.save()
    _pending(team.group, risk_level="critical")
    assert notifications_send_pending().sent == 1
    assert mail.outbox == [] and len(slack.received) == 1


def test_the_query_count_does_not_grow_with_the_queue(team, config):
    others = Group.objects.get_or_create(name="Support leads")[0]
    UserFactory(username="support").groups.add(others)
    now = timezone.now()

    def run():
        with CaptureQueriesContext(connection) as queries:
            summary = notifications_send_pending(now=now)
        statements = [q["sql"].split(" ", 1)[0] for q in queries.captured_queries]
        return (
            statements.count("SELECT"),
            statements.count("INSERT"),
            statements.count("UPDATE"),
            summary.sent,
        )

    def add(n):
        for i in range(n):
            _pending(
                team.group if i % 2 else others, risk_level="high", sla_due_at=now + timedelta(minutes=10)
            )

    add(2)
    first_few, idle_few = run(), run()
    add(20)
    first_many, idle_many = run(), run()

    # Nothing new to send: the same handful of reads for 2 or 22 items, and no writes.
    assert idle_few == idle_many == (idle_few[0], 0, 0, 0)
    # Sending: the same reads, multi-row inserts, and one update per message (recording its outcome).
    assert first_few[0] == first_many[0] == idle_few[0] + 1
    # Two multi-row inserts: the emails' one-click links, then the messages.
    assert first_few[1] == 2 and first_many[1] <= 4
    assert (first_few[2], first_many[2]) == (first_few[3], first_many[3]) == (6, 60)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_message_once(team, config):
    for _ in range(5):
        _pending(team.group, risk_level="high")
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            barrier.wait(timeout=10)
            notifications_send_pending()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(mail.outbox) == 10
    assert len({(m.to[0], re.search(r"/approvals/(\d+)/", m.body)[1]) for m in mail.outbox}) == 10
