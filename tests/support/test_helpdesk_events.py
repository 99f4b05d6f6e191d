"""Resolutions and the customer's follow-ups arriving by helpdesk webhooks feed the support metrics
(first-contact resolution within ``SupportSettings.followup_window_hours``, handle time), and what
each vendor event means is read right (pure classification and diagnostics reading included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from approvals.models import ApprovalPolicy
from support.diagnostics import read_answers
from support.helpdesk_events import CREATED, REQUESTER_MESSAGE, RESOLVED, classify, plain_text
from support.metrics import total
from support.models import SupportSettings, Ticket
from support.selectors import ticket_facts_since
from tests.support.helpdesk_world import make_helpdesk
from tests.support.test_bot_services import champion  # noqa: F401 - the trained model, once per session

HOUR = 3600
AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def servers():
    running: list = []
    yield running
    for server in running:
        server.stop()


@pytest.fixture
def helpdesk(request, servers, django_capture_on_commit_callbacks, champion):  # noqa: F811
    ApprovalPolicy.objects.create(
        name="Support actions go out on their own", outcome="auto", domains=["support"], priority=10
    )
    return make_helpdesk(request.param, django_capture_on_commit_callbacks, servers)


def _figures(ticket: Ticket):
    facts, window = ticket_facts_since(ticket.opened_at - timedelta(days=1))
    return total(facts, window)


@pytest.mark.django_db
@pytest.mark.parametrize("helpdesk", ["zendesk"], indirect=True)
def test_a_follow_up_after_the_bots_answer_spoils_first_contact_resolution(helpdesk):
    external_id = helpdesk.open_ticket("I am still waiting on my card?")
    helpdesk.round_trip()
    ticket = Ticket.objects.get(source="zendesk", external_id=external_id)
    assert ticket.resolved_by == "bot" and ticket.followup_at is None
    assert _figures(ticket).value("fcr") == 1.0

    helpdesk.customer_replies(external_id, "Thanks, but it still has not come.")
    helpdesk.round_trip()
    helpdesk.agent_solves(external_id)
    helpdesk.round_trip()

    ticket.refresh_from_db()
    # The helpdesk stamps its events in whole seconds; the bot's resolution carries microseconds, and
    # the customer may answer within the same second.
    assert ticket.followup_at is not None and ticket.followup_at >= ticket.resolved_at.replace(microsecond=0)
    assert ticket.resolved_by == "bot"  # the first resolution stands; the solve does not move it
    figures = _figures(ticket)
    assert (figures.resolved, figures.first_contact, figures.value("fcr")) == (1, 0, 0.0)
    assert len(helpdesk.ours(external_id)) == 1  # a follow-up is not a new ticket for the bot


@pytest.mark.django_db
@pytest.mark.parametrize("helpdesk", ["intercom"], indirect=True)
def test_a_person_closing_the_conversation_sets_the_handle_time_and_the_window_decides_fcr(helpdesk):
    external_id = helpdesk.open_ticket("hello")  # low confidence: handed off
    helpdesk.round_trip()
    ticket = Ticket.objects.get(source="intercom", external_id=external_id)
    assert ticket.resolved_at is None and ticket.escalated_at is not None

    helpdesk.app.clock_offset = HOUR  # the agent closes it an hour after it was opened
    helpdesk.agent_solves(external_id)
    helpdesk.round_trip()
    ticket.refresh_from_db()
    assert ticket.resolved_by == "human"
    # The helpdesk's own times: when the conversation was opened, and when the agent closed it.
    conversation = helpdesk.http("GET", f"/conversations/{external_id}")
    (close,) = [
        p for p in conversation["conversation_parts"]["conversation_parts"] if p["part_type"] == "close"
    ]
    assert ticket.source_created_at == datetime.fromtimestamp(conversation["created_at"], tz=UTC)
    assert ticket.resolved_at == datetime.fromtimestamp(close["created_at"], tz=UTC)
    handle = (ticket.resolved_at - ticket.source_created_at).total_seconds()
    assert handle >= HOUR and _figures(ticket).value("aht_human") == handle

    helpdesk.app.clock_offset = 3 * HOUR  # the customer writes again two hours after the close
    helpdesk.customer_replies(external_id, "It happened again")
    helpdesk.round_trip()
    ticket.refresh_from_db()
    assert (ticket.followup_at - ticket.resolved_at).total_seconds() >= 2 * HOUR
    assert _figures(ticket).value("fcr") == 0.0  # within the default 24 h window

    SupportSettings.objects.create(followup_window_hours=1)
    assert _figures(ticket).value("fcr") == 1.0  # outside a 1 h window: still first contact


@pytest.mark.django_db
@pytest.mark.parametrize("helpdesk", ["zendesk"], indirect=True)
def test_events_delivered_twice_are_applied_once(helpdesk):
    external_id = helpdesk.open_ticket("I am still waiting on my card?")
    helpdesk.round_trip()
    helpdesk.customer_replies(external_id, "still nothing")
    helpdesk.round_trip()
    ticket = Ticket.objects.get(source="zendesk", external_id=external_id)
    followup = ticket.followup_at

    assert helpdesk.redeliver_all() == []
    ticket.refresh_from_db()
    assert ticket.followup_at == followup


# Pure: what a vendor event means ------------------------------------------------------------------
def test_it_reads_zendesk_events():
    ticket = {"id": 7, "requester_id": 42, "status": "open"}

    def zendesk(topic, payload=ticket, event=None):
        return classify(
            vendor="zendesk", topic=f"zen:event-type:ticket.{topic}", payload=payload,
            delivery={"event": event or {}}, at=AT,
        )  # fmt: skip

    assert zendesk("created").kind == CREATED
    by_customer = zendesk("comment_added", event={"author_id": 42, "body": "<p>1234</p>", "public": True})
    assert (by_customer.kind, by_customer.text, by_customer.at) == (REQUESTER_MESSAGE, "1234", AT)
    assert zendesk("comment_added", event={"author_id": 360000, "body": "our reply"}).kind == ""
    assert zendesk("comment_added", event={"author_id": 42, "body": "x", "public": False}).kind == ""
    assert zendesk("status_changed", payload={**ticket, "status": "solved"}).kind == RESOLVED
    assert zendesk("status_changed", payload={**ticket, "status": "closed"}).kind == RESOLVED
    assert zendesk("status_changed", payload={**ticket, "status": "pending"}).kind == ""
    assert zendesk("tags_changed").kind == ""


def test_it_reads_intercom_events():
    def parts(*authors):
        return {
            "conversation_parts": {
                "conversation_parts": [
                    {"author": {"type": a}, "body": f"<p>from {a}</p><!-- agentops:k -->"} for a in authors
                ]
            }
        }

    def intercom(topic, payload=None):
        return classify(vendor="intercom", topic=topic, payload=payload or {}, delivery={}, at=AT)

    assert intercom("conversation.user.created").kind == CREATED
    reply = intercom("conversation.user.replied", parts("admin", "user"))
    assert (reply.kind, reply.text) == (REQUESTER_MESSAGE, "from user")
    assert intercom("conversation.admin.closed").kind == RESOLVED
    assert intercom("conversation.admin.replied", parts("admin")).kind == ""
    assert intercom("conversation.admin.noted").kind == ""
    assert classify(vendor="hubspot", topic="contact.creation", payload={}, delivery={}, at=AT).kind == ""


def test_plain_text_drops_html_and_our_hidden_markers():
    assert plain_text("<p>Hello<br>there</p><!-- agentops:abc -->") == "Hello\nthere"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It ends in 4821, refused at the supermarket.", {"card_last4": "4821"}),
        ("card_last4: 0042", {"card_last4": "0042"}),
        ("My card 4000 1234 5678 9010 does not work", {"card_last4": "9010"}),  # only the last four kept
        ("4821 or maybe 1234, not sure", {}),  # ambiguous: nothing is guessed
        ("on 12 May 2026 with card 4821", {}),  # a year is four digits too: ambiguous
        ("It just does not work", {}),
    ],
)
def test_it_reads_only_the_diagnostics_it_can_be_sure_of(text, expected):
    assert read_answers(text, ["card_last4"]) == expected


def test_a_labelled_line_gives_any_diagnostic():
    assert read_answers("Where: Tesco\norder_ref = A-77\n", ["order_ref", "where"]) == {
        "order_ref": "A-77",
        "where": "Tesco",
    }
