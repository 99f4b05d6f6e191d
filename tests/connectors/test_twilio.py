"""SMS through Twilio (issue 18): texts sent by the outbox with the official ``twilio`` client to the
Twilio sandbox over HTTP; its signed status callbacks and inbound texts, captured by a local inbox
and posted to our webhooks as Twilio posts them; STOP; and the veto that keeps an SMS from being
proposed when nothing can send it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import pytest
from django.test import Client, TestCase
from django.utils import timezone
from twilio.request_validator import RequestValidator

from approvals.models import ProposedAction
from approvals.services import (
    NewProposal,
    SubmissionRefused,
    action_submit,
    actions_propose_many,
    payload_sha256,
)
from audit.models import DecisionLogEntry
from connectors.models import ActionExecution, ActionRoute, Connection, WebhookEvent
from connectors.sandbox.server import FaultConfig
from connectors.sandbox.twilio import TwilioSandbox
from connectors.twilio.signature import twilio_sign
from consent.selectors import consent_states
from sales.cadence_services import cadences_advance
from sales.choices import ConsentState
from sales.models import Cadence, CadenceStep, Enrolment, LeadEvent, MessageTemplate, Touch
from tests.factories import LeadFactory, UserFactory, approved_action, sms_provider
from tests.outbox import outbox_run

pytestmark = pytest.mark.django_db

PHONE = "+14155550100"
# Wednesday 17:00 UTC: working hours in New York.
NOW = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)


class Twilio:
    """The sandbox, the inbox its webhooks go to, and our connection to it."""

    def __init__(self, app: TwilioSandbox, inbox, connection: Connection) -> None:
        self.app, self.inbox, self.connection = app, inbox, connection

    def deliveries(self) -> list[dict]:
        """Every webhook the sandbox has sent so far (waiting for those queued)."""
        assert self.app.webhooks.drain()
        return self.inbox.app.deliveries()

    def post_all(self, client: Client, deliveries=None) -> list[int]:
        return [
            post(client, d).status_code for d in (self.deliveries() if deliveries is None else deliveries)
        ]


def post(client: Client, delivery: dict, **changes: str):
    """POST one captured webhook to our app at the path and query Twilio called (``changes``: form
    fields altered on the way, as a forger would)."""
    query = urlencode(delivery["query"], doseq=True)
    params = dict(parse_qsl(delivery["body"].decode(), keep_blank_values=True))
    body = urlencode({**params, **changes}).encode() if changes else delivery["body"]
    with TestCase.captureOnCommitCallbacks(execute=True):  # the follow-ups, as after a real commit
        return client.post(
            delivery["path"] + (f"?{query}" if query else ""),
            data=body,
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": delivery["headers"]["x-twilio-signature"]},
        )


@pytest.fixture
def twilio(serve_sandbox, webhook_inbox, settings) -> Twilio:
    # Twilio calls our public address; here that is the inbox, whose captures the test posts on.
    settings.AGENTOPS_BASE_URL = webhook_inbox.url
    sandbox = serve_sandbox(TwilioSandbox())
    connection = sms_provider(base_url=sandbox.url)
    sandbox.app.inbound_url = f"{webhook_inbox.url}/webhooks/twilio/{connection.name}/inbound/"
    return Twilio(sandbox.app, webhook_inbox, connection)


@pytest.fixture
def lead():
    return LeadFactory(phone=PHONE, email="ada@northwind.example", consent_state=ConsentState.GRANTED)


def text(lead, key: str = "text-1", body: str = "Hi Ada, a quick question. Reply STOP to opt out"):
    return approved_action("send_sms", {"to": PHONE, "body": body}, lead=lead, idempotency_key=key)


def enrolled(lead, *steps: tuple[str, int]) -> Enrolment:
    """``lead`` enrolled now in a cadence of ``steps`` (channel, wait in days), one template per channel."""
    templates = {
        "sms": MessageTemplate.objects.create(name="Nudge", channel="sms", body="Hi. Reply STOP to opt out"),
        "email": MessageTemplate.objects.create(
            name="Intro", channel="email", subject="Hi", body="Hi. Unsubscribe: {{ unsubscribe_url }}"
        ),
    }
    cadence = Cadence.objects.create(name="Text first")
    for position, (channel, wait) in enumerate(steps, start=1):
        CadenceStep.objects.create(
            cadence=cadence, position=position, channel=channel, wait_days=wait, template=templates[channel]
        )
    return Enrolment.objects.create(
        lead=lead, cadence=cadence, status="active", next_position=1, next_step_at=NOW, enrolled_at=NOW
    )


def sms_consent(lead) -> str | None:
    return consent_states(leads=[lead]).get(lead.pk, {}).get("sms")


# --- Sending and receipts --------------------------------------------------------------------


def test_it_sends_a_text_through_the_outbox_and_records_its_delivery(client, twilio, lead):
    action = text(lead)

    assert outbox_run(kinds={"send_sms"}) == {"executed": 1}

    [message] = twilio.app.messages()
    assert (message["to"], message["from"]) == (PHONE, "+15005550006")
    assert message["body"].startswith("Hi Ada")
    execution = ActionExecution.objects.get(action=action)
    assert execution.vendor_id == message["sid"]
    assert twilio.post_all(client) == [200, 200]  # sent, then delivered
    execution.refresh_from_db()
    assert execution.delivery_status == "delivered"
    receipt = DecisionLogEntry.objects.get(subject_id=str(action.pk), actor="twilio:webhook")
    assert receipt.outcome == {"delivery": "delivered", "error_code": ""}


def test_the_sandbox_signs_its_callbacks_as_twilio_does(twilio, lead):
    text(lead)
    outbox_run(kinds={"send_sms"})
    for delivery in twilio.deliveries():
        url = f"{twilio.inbox.url}{delivery['path']}?{urlencode(delivery['query'], doseq=True)}"
        params = dict(parse_qsl(delivery["body"].decode()))
        signature = delivery["headers"]["x-twilio-signature"]
        assert RequestValidator(TwilioSandbox.auth_token).validate(url, params, signature)
        assert twilio_sign(auth_token="another-token", url=url, params=params) != signature


@pytest.mark.parametrize("forgery", ["signature", "status", "url"])
def test_a_callback_not_signed_by_the_connections_token_is_refused_and_changes_nothing(
    client, twilio, lead, forgery
):
    action = text(lead)
    outbox_run(kinds={"send_sms"})
    delivered = twilio.deliveries()[-1]
    if forgery == "signature":
        delivered["headers"]["x-twilio-signature"] = twilio_sign(
            auth_token="not-the-token", url="http://x", params={}
        )
        response = post(client, delivered)
    elif forgery == "status":
        response = post(client, delivered, MessageStatus="failed", ErrorCode="30005")
    else:
        delivered["query"] = {"action": [str(action.pk + 1)]}
        response = post(client, delivered)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert ActionExecution.objects.get(action=action).delivery_status == ""


def test_repeated_callbacks_are_applied_once(client, twilio, lead):
    twilio.app.webhooks.configure(url="per message", duplicate_rate=1.0, seed=1)
    action = text(lead)
    outbox_run(kinds={"send_sms"})

    statuses = twilio.post_all(client)

    assert len(statuses) == 4 and set(statuses) == {200}
    assert sorted(WebhookEvent.objects.values_list("deliveries", flat=True)) == [2, 2]
    assert DecisionLogEntry.objects.filter(subject_id=str(action.pk), actor="twilio:webhook").count() == 1


def test_a_late_sent_callback_does_not_undo_delivered(client, twilio, lead):
    action = text(lead)
    outbox_run(kinds={"send_sms"})
    sent, delivered = twilio.deliveries()

    assert [post(client, delivered).status_code, post(client, sent).status_code] == [200, 200]
    assert ActionExecution.objects.get(action=action).delivery_status == "delivered"


# --- Failures ----------------------------------------------------------------------------------


def test_a_text_to_a_number_that_does_not_exist_stops_sms_to_the_lead(client, twilio, lead):
    twilio.app.fail_delivery(PHONE, status="undelivered", error_code="30005")
    text(lead)
    outbox_run(kinds={"send_sms"})
    twilio.post_all(client)
    later = text(lead, key="text-2")
    email = approved_action(
        "send_email", {"to": lead.email, "subject": "Hi", "body": "Hi"}, lead=lead, idempotency_key="mail"
    )

    assert sms_consent(lead) == "withdrawn"
    assert (
        ActionExecution.objects.get(action__idempotency_key="text-1").delivery_status == "undelivered 30005"
    )
    assert outbox_run(kinds={"send_sms"}) == {"cancelled": 1}
    later.refresh_from_db()
    assert later.status == "cancelled"
    assert len(twilio.app.messages()) == 1
    email.refresh_from_db()
    assert email.status == "approved"  # email to the lead goes on


def test_a_failure_that_may_pass_is_recorded_but_stops_nothing(client, twilio, lead):
    twilio.app.fail_delivery(PHONE, status="undelivered", error_code="30003")  # handset off
    text(lead)
    outbox_run(kinds={"send_sms"})
    twilio.post_all(client)

    assert ActionExecution.objects.get().delivery_status == "undelivered 30003"
    assert sms_consent(lead) != "withdrawn"


# --- Texts received: STOP, START, replies ------------------------------------------------------


@pytest.mark.parametrize("body", ["STOP", "stop", " Unsubscribe. ", "Quit", "STOPALL"])
def test_stop_withdraws_sms_consent_and_the_next_queued_text_is_refused(client, twilio, lead, body):
    text(lead)
    outbox_run(kinds={"send_sms"})
    queued = text(lead, key="text-2")
    ProposedAction.objects.filter(pk=queued.pk).update(status="approved")

    twilio.app.deliver_inbound(from_=PHONE, body=body)
    assert set(twilio.post_all(client)) == {200}

    assert sms_consent(lead) == "withdrawn"
    assert consent_states(leads=[lead]).get(lead.pk, {}).get("email") != "withdrawn"
    queued.refresh_from_db()
    assert queued.status == "cancelled"  # withdrawn at once, or refused by the outbox
    outbox_run(kinds={"send_sms"})
    assert len(twilio.app.messages()) == 1


def test_start_after_stop_is_recorded_and_raises_no_consent(client, twilio, lead):
    text(lead)
    outbox_run(kinds={"send_sms"})
    twilio.app.deliver_inbound(from_=PHONE, body="STOP")
    twilio.post_all(client)
    already = len(twilio.deliveries())

    twilio.app.deliver_inbound(from_=PHONE, body="START")
    twilio.post_all(client, twilio.deliveries()[already:])

    assert sms_consent(lead) == "withdrawn"
    entry = DecisionLogEntry.objects.get(actor="twilio:webhook", subject_type="lead")
    assert entry.action_taken["consent_raised"] is False


def test_a_reply_is_the_leads_reply_and_ends_its_cadence_at_once(client, twilio, lead):
    enrolment = enrolled(lead, ("sms", 0), ("sms", 2))
    cadences_advance(now=NOW)
    step = ProposedAction.objects.get(lead=lead, kind="send_sms")
    ProposedAction.objects.filter(pk=step.pk).update(
        status="approved", approved_payload_sha256=payload_sha256(step.payload)
    )
    assert outbox_run(kinds={"send_sms"}) == {"executed": 1}

    twilio.app.deliver_inbound(from_=PHONE, body="Sounds good, call me Friday")
    assert twilio.post_all(client)[-1] == 200

    event = LeadEvent.objects.get(lead=lead)
    assert (event.kind, event.properties["channel"]) == ("email_reply", "sms")
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "replied")
    assert sms_consent(lead) != "withdrawn"


def test_a_redelivered_text_is_applied_once(client, twilio, lead):
    text(lead)
    outbox_run(kinds={"send_sms"})
    already = len(twilio.deliveries())
    twilio.app.deliver_inbound(from_=PHONE, body="Who is this?")
    [delivery] = twilio.deliveries()[already:]

    assert [post(client, delivery).status_code, post(client, delivery).status_code] == [200, 200]
    assert LeadEvent.objects.count() == 1
    assert WebhookEvent.objects.get(event_id__startswith="inbound:").deliveries == 2


def test_a_text_from_a_number_we_never_texted_is_ignored(client, twilio, lead):
    twilio.app.deliver_inbound(from_="+14155550199", body="STOP")

    assert twilio.post_all(client) == [200]
    assert WebhookEvent.objects.get().status == "ignored"
    assert sms_consent(lead) != "withdrawn"


def test_an_inbound_text_with_a_bad_signature_is_refused(client, twilio, lead):
    text(lead)
    outbox_run(kinds={"send_sms"})
    already = len(twilio.deliveries())
    twilio.app.deliver_inbound(from_=PHONE, body="STOP")
    [delivery] = twilio.deliveries()[already:]

    assert post(client, delivery, Body="Tell me more").status_code == 401
    assert not WebhookEvent.objects.filter(event_id__startswith="inbound:").exists()
    assert sms_consent(lead) != "withdrawn"


# --- Never approved, then unrunnable -----------------------------------------------------------


def propose_text(lead):
    return action_submit(
        user=UserFactory(),
        kind="send_sms",
        payload={"to": PHONE, "body": "Hi. Reply STOP to opt out"},
        rationale="Asked to be texted.",
        confidence=0.8,
        idempotency_key="proposal-1",
        lead=lead.pk,
    )


def test_without_an_sms_provider_a_text_is_refused_when_proposed(lead):
    with pytest.raises(SubmissionRefused) as refused:
        propose_text(lead)

    assert (refused.value.code, refused.value.field) == ("no_sms_route", "kind")
    assert "no SMS provider" in str(refused.value)
    assert not ProposedAction.objects.exists()


@pytest.mark.parametrize("broken", ["inactive", "read_only", "not_an_sms_vendor"])
def test_a_route_that_cannot_send_texts_is_no_provider(lead, broken):
    if broken == "not_an_sms_vendor":
        hubspot = Connection(
            name="crm", vendor="hubspot", base_url="http://127.0.0.1:9", write_scopes=["send_sms"]
        )
        hubspot.save()
        ActionRoute.objects.create(kind="send_sms", connection=hubspot)
    else:
        connection = sms_provider()
        Connection.objects.filter(pk=connection.pk).update(
            **({"is_active": False} if broken == "inactive" else {"write_scopes": []})
        )

    with pytest.raises(SubmissionRefused) as refused:
        propose_text(lead)
    assert refused.value.code == "no_sms_route"


def test_with_a_provider_the_text_is_proposed(lead):
    sms_provider()
    assert propose_text(lead).created


def test_a_cadence_skips_its_sms_step_without_a_provider_and_moves_on(lead):
    enrolment = enrolled(lead, ("sms", 0), ("email", 0))

    cadences_advance(now=NOW)
    cadences_advance(now=NOW)

    touches = {t.channel: t for t in Touch.objects.filter(enrolment=enrolment)}
    assert touches["sms"].status == "skipped" and "no SMS provider" in touches["sms"].reason
    assert touches["email"].status == "proposed"
    assert list(ProposedAction.objects.values_list("kind", flat=True)) == ["send_email"]
    enrolment.refresh_from_db()
    assert enrolment.status == "active"


def test_a_text_approved_before_its_route_went_away_is_cancelled_not_failed(twilio, lead):
    action = text(lead)
    ActionRoute.objects.all().delete()

    assert outbox_run(kinds={"send_sms"}) == {"cancelled": 1}
    action.refresh_from_db()
    assert action.status == "cancelled"
    assert not twilio.app.messages()


def test_a_text_a_playbook_proposes_waits_for_an_sms_provider(lead):
    proposal = NewProposal(
        kind="send_sms",
        domain="sales",
        payload={"to": PHONE, "body": "Hi. Reply STOP to opt out"},
        rationale="Asked to be texted.",
        confidence=0.8,
        risk_level="low",
        idempotency_key="playbook-text",
        proposed_by="sdr-agent:playbooks",
        lead_id=lead.pk,
    )

    assert actions_propose_many(proposals=[proposal]) == ({}, {})
    assert not ProposedAction.objects.exists()
    sms_provider()  # the playbook's next run
    ids, _ = actions_propose_many(proposals=[proposal])
    assert list(ids) == ["playbook-text"]


def test_a_text_whose_answer_was_lost_is_never_sent_twice(twilio, lead):
    twilio.app.faults.configure(FaultConfig(server_error=1.0, after_effect=1.0, path_pattern="Messages"))
    action = text(lead)

    assert outbox_run(kinds={"send_sms"}) == {"failed": 1}

    action.refresh_from_db()
    assert action.status == "failed"
    assert "not repeated" in ActionExecution.objects.get(action=action).last_error
    assert len(twilio.app.messages()) == 1  # Twilio sent it; nobody sends it again


def test_a_text_refused_for_a_rate_limit_goes_out_once_later(twilio, lead):
    twilio.app.faults.configure(
        FaultConfig(rate_limited=1.0, rate_limited_burst=1, seed=1, path_pattern="Messages")
    )
    action = text(lead)
    assert outbox_run(kinds={"send_sms"}) == {"retry": 1}
    assert ActionExecution.objects.get(action=action).last_error_code == "rate_limited"

    twilio.app.faults.configure(FaultConfig())
    ActionExecution.objects.filter(action=action).update(due_at=timezone.now())
    assert outbox_run(kinds={"send_sms"}) == {"executed": 1}
    assert len(twilio.app.messages()) == 1
