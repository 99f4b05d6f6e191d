"""What comes back to AgentOps's own mail (issue 18): real RFC 5322 replies, RFC 3464 delivery status
notifications and RFC 5965 feedback reports, built with the email package, posted signed to the
inbound-mail webhook as an MTA or inbound provider would, about a message the outbox really sent to a
local SMTP server.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid

import pytest

from approvals.models import ProposedAction
from approvals.services import payload_sha256
from audit.models import DecisionLogEntry
from connectors.mail.signature import SIGNATURE_HEADER, inbound_mail_sign
from consent.models import ConsentRecord
from sales.cadence_services import cadences_advance
from sales.choices import ConsentState
from sales.models import Cadence, CadenceStep, Enrolment, LeadEvent, MessageTemplate, Touch
from tests.connectors.smtp import smtp_server
from tests.factories import LeadFactory, approved_action
from tests.outbox import outbox_run

pytestmark = pytest.mark.django_db
__all__ = ["smtp_server"]  # the fixture, used by name

SECRET = "inbound-mail-test-secret"
INBOUND = "/webhooks/mail/inbound/"
# Wednesday 15:00 UTC: working hours in London, before the test runs (the reply comes after it).
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
PROSPECT = "ada@northwind.example"


@pytest.fixture(autouse=True)
def inbound_secret(settings):
    settings.AGENTOPS_INBOUND_MAIL_SECRET = SECRET


@pytest.fixture
def lead():
    return LeadFactory(email=PROSPECT, consent_state=ConsentState.GRANTED, timezone="Europe/London")


@pytest.fixture
def sent(smtp_server, lead) -> Message:
    """The message the outbox sent to the lead, as the SMTP server received it."""
    payload = {"to": PROSPECT, "subject": "Quick question", "body": "Hi Ada", "cc": []}
    approved_action("send_email", payload, lead=lead, idempotency_key="first-touch")
    assert outbox_run() == {"executed": 1}
    return message_from_bytes(smtp_server.messages[-1][1], policy=policy.default)


def post(client, raw: bytes, *, secret: str = SECRET):
    headers = {SIGNATURE_HEADER: inbound_mail_sign(secret=secret, body=raw)}
    return client.post(INBOUND, data=raw, content_type="message/rfc822", headers=headers)


def post_json(client, document: dict):
    body = json.dumps(document).encode()
    headers = {SIGNATURE_HEADER: inbound_mail_sign(secret=SECRET, body=body)}
    return client.post(INBOUND, data=body, content_type="application/json", headers=headers)


def reply_to(original: Message, *, to: str | None = None, **headers: str) -> bytes:
    """The prospect's answer, as a mail client writes it; ``headers`` replace its own (empty: none)."""
    reply = EmailMessage()
    reply["From"] = f"Ada Lovelace <{PROSPECT}>"
    reply["To"] = to if to is not None else original["Reply-To"]
    reply["Subject"] = f"Re: {original['Subject']}"
    reply["Message-ID"] = make_msgid(domain="northwind.example")
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    for name, value in headers.items():
        del reply[name.replace("_", "-")]
        if value:
            reply[name.replace("_", "-")] = value
    reply.set_content("Thanks, not now. Please stop.\n\n> Hi Ada\n")
    return reply.as_bytes()


def delivery_status_notification(original: Message, *, action="failed", status="5.1.1", headers_only=False):
    """An RFC 3464 report from the recipient's MTA, returning the original (or its headers)."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.northwind.example>"
    report["To"] = "bounces@agentops.example.com"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = make_msgid(domain="mx.northwind.example")
    report.attach(MIMEText("I'm sorry to have to inform you that your message could not be delivered."))
    fields = Message()
    fields.set_type("message/delivery-status")
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.northwind.example"
    per_recipient["Final-Recipient"] = f"rfc822; {PROSPECT}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Diagnostic-Code"] = "smtp; 550 5.1.1 user unknown"
    fields.set_payload([per_message, per_recipient])
    report.attach(fields)
    if headers_only:
        text = "".join(f"{name}: {value}\n" for name, value in original.items())
        report.attach(MIMEText(text, "rfc822-headers"))
    else:
        report.attach(MIMEMessage(original))
    return report.as_bytes()


def feedback_report(original: Message) -> bytes:
    """An RFC 5965 abuse report from the recipient's mailbox provider (a "this is spam" click)."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "feedback@mailbox-provider.example"
    report["Subject"] = "Abuse report"
    report["Message-ID"] = make_msgid(domain="mailbox-provider.example")
    report.attach(MIMEText("This is an email abuse report for an email message received from us."))
    fields = Message()
    fields.set_type("message/feedback-report")
    details = Message()
    details["Feedback-Type"] = "abuse"
    details["User-Agent"] = "SomeGenerator/1.0"
    details["Version"] = "1"
    fields.set_payload([details])
    report.attach(fields)
    report.attach(MIMEMessage(original))
    return report.as_bytes()


def queued_email(lead, key="queued-later"):
    payload = {"to": PROSPECT, "subject": "Following up", "body": "Hi again", "cc": []}
    return approved_action("send_email", payload, lead=lead, idempotency_key=key)


# --- The webhook ---------------------------------------------------------------------------------


def test_a_delivery_without_the_right_signature_is_refused_and_changes_nothing(client, sent):
    raw = reply_to(sent)

    assert client.post(INBOUND, data=raw, content_type="message/rfc822").status_code == 401
    assert post(client, raw, secret="someone-else").status_code == 401
    assert not LeadEvent.objects.exists()


def test_without_a_secret_configured_every_delivery_is_refused(client, sent, settings):
    settings.AGENTOPS_INBOUND_MAIL_SECRET = ""

    assert post(client, reply_to(sent), secret="").status_code == 401
    assert not LeadEvent.objects.exists()


def test_a_json_delivery_carries_the_message_and_its_envelope_recipients(client, sent, lead):
    raw = reply_to(sent, to="Sales <sales@agentops.example.com>", In_Reply_To="", References="")
    # The reply reached our Reply-To address, which only the envelope (the provider's JSON) says.
    document = {"raw_base64": base64.b64encode(raw).decode(), "recipients": [sent["Reply-To"]]}

    response = post_json(client, document)

    assert response.json() == {"status": "recorded", "kind": "reply", "lead": lead.pk, "reason": ""}
    assert LeadEvent.objects.get().kind == "email_reply"


@pytest.mark.parametrize(
    ("document", "field"),
    [({"recipients": []}, "raw"), ({"raw": "x", "recipients": "a@b"}, "recipients"), ([], "body")],
)
def test_a_malformed_json_delivery_is_refused_naming_the_field(client, document, field):
    response = post_json(client, document)

    assert response.status_code == 400 and response.json()["field"] == field
    assert not LeadEvent.objects.exists()


# --- Replies -------------------------------------------------------------------------------------


def test_a_reply_to_the_messages_reply_address_is_the_leads_reply(client, sent, lead):
    response = post(client, reply_to(sent, In_Reply_To="", References=""))

    assert response.status_code == 200 and response.json()["status"] == "recorded"
    event = LeadEvent.objects.get()
    action = ProposedAction.objects.get(idempotency_key="first-touch")
    assert (event.lead, event.kind, event.properties["action_id"]) == (lead, "email_reply", action.pk)
    assert DecisionLogEntry.objects.filter(
        event_type="outcome.recorded", subject_type="lead", subject_id=str(lead.pk)
    ).exists()


def test_a_reply_sent_elsewhere_is_known_by_the_message_it_answers(client, sent, lead):
    response = post(client, reply_to(sent, to="sales@agentops.example.com"))

    assert response.json()["status"] == "recorded"
    assert LeadEvent.objects.get().kind == "email_reply"


def test_a_redelivered_message_changes_nothing(client, sent):
    raw = reply_to(sent)
    post(client, raw)
    entries = DecisionLogEntry.objects.count()

    again = post(client, raw)

    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert LeadEvent.objects.count() == 1
    assert DecisionLogEntry.objects.count() == entries


def test_an_out_of_office_answer_is_not_a_reply(client, sent):
    response = post(client, reply_to(sent, Auto_Submitted="auto-replied"))

    assert response.json()["status"] == "ignored" and "Auto-Submitted" in response.json()["reason"]
    assert not LeadEvent.objects.exists()


def test_a_made_up_reply_address_is_ignored(client, sent):
    forged = sent["Reply-To"].replace("reply+", "reply+1").replace("-", "-0", 1)

    response = post(client, reply_to(sent, to=forged, In_Reply_To="", References=""))

    assert response.json()["status"] == "ignored"
    assert not LeadEvent.objects.exists()


def test_a_reply_ends_the_cadence_before_the_next_tick_and_no_further_step_is_sent(client, smtp_server, lead):
    intro = MessageTemplate.objects.create(
        name="Intro", channel="email", subject="Quick question", body="Hi. Unsubscribe: {{ unsubscribe_url }}"
    )
    bump = MessageTemplate.objects.create(
        name="Bump", channel="email", subject="Re: quick question", body="Any thoughts? {{ unsubscribe_url }}"
    )
    cadence = Cadence.objects.create(name="Inbound hot")
    CadenceStep.objects.create(cadence=cadence, position=1, channel="email", wait_days=0, template=intro)
    CadenceStep.objects.create(cadence=cadence, position=2, channel="email", wait_days=2, template=bump)
    enrolment = Enrolment.objects.create(
        lead=lead, cadence=cadence, status="active", next_position=1, next_step_at=NOW, enrolled_at=NOW
    )
    cadences_advance(now=NOW)
    step_one = ProposedAction.objects.get(lead=lead, kind="send_email")
    ProposedAction.objects.filter(pk=step_one.pk).update(
        status="approved", approved_payload_sha256=payload_sha256(step_one.payload)
    )  # a person approved it
    assert outbox_run() == {"executed": 1}
    [(_, raw)] = smtp_server.messages

    post(client, reply_to(message_from_bytes(raw, policy=policy.default)))
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "replied")  # at once
    summary = cadences_advance(now=NOW + timedelta(days=3))  # the next tick, when step 2 was due

    assert summary.proposed == 0 and summary.due == 0
    assert Touch.objects.get(position=1).replied_at is not None
    cadences_advance(now=NOW + timedelta(days=10))
    outbox_run()
    assert Touch.objects.count() == 1 and len(smtp_server.messages) == 1  # no further step


def test_a_reply_withdraws_the_next_step_already_approved_before_the_outbox_sends_it(client, sent, lead):
    # Step 2 was approved before the prospect answered step 1, and waits for the outbox: it must not
    # go out in the minutes before the next cadence tick.
    cadence = Cadence.objects.create(name="Inbound hot")
    enrolment = Enrolment.objects.create(
        lead=lead, cadence=cadence, status="active", next_position=3, next_step_at=NOW, enrolled_at=NOW
    )
    step_two = queued_email(lead, key="step-two")
    bump = MessageTemplate.objects.create(name="Bump", channel="email", subject="Re", body="Any thoughts?")
    step = CadenceStep.objects.create(
        cadence=cadence, position=2, channel="email", wait_days=2, template=bump
    )
    Touch.objects.create(
        enrolment=enrolment, lead=lead, step=step, position=2, channel="email", touched_at=NOW,
        status="proposed", action=step_two, template_version=1,
    )  # fmt: skip

    post(client, reply_to(sent))
    outbox_run()

    enrolment.refresh_from_db()
    step_two.refresh_from_db()
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "replied")
    assert step_two.status == "cancelled"
    assert Touch.objects.get().replied_at is not None


# --- Bounces -------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers_only", [False, True], ids=["original-returned", "headers-returned"])
def test_a_permanent_bounce_records_it_and_suppresses_email_to_the_lead(
    client, sent, lead, headers_only, django_capture_on_commit_callbacks
):
    later = queued_email(lead)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, delivery_status_notification(sent, headers_only=headers_only))

    assert response.json()["kind"] == "bounce" and response.json()["status"] == "recorded"
    event = LeadEvent.objects.get()
    assert (event.kind, event.properties["status"]) == ("email_bounce", "5.1.1")
    record = ConsentRecord.objects.get(lead=lead)
    assert (record.channel, record.status, record.source) == ("email", "withdrawn", "webhook:email")
    later.refresh_from_db()
    assert later.status == "cancelled"
    lead.refresh_from_db()
    assert lead.consent_state == ConsentState.GRANTED  # only email is suppressed, not every channel


@pytest.mark.parametrize(("action", "status"), [("delayed", "4.4.7"), ("failed", "4.2.2")])
def test_a_delay_or_a_transient_failure_is_not_a_bounce(client, sent, action, status):
    response = post(client, delivery_status_notification(sent, action=action, status=status))

    assert response.json()["status"] == "ignored"
    assert not LeadEvent.objects.exists() and not ConsentRecord.objects.exists()


def test_a_bounce_of_a_message_we_did_not_send_is_ignored(client, sent):
    stranger = EmailMessage()
    stranger["Message-ID"] = "<someone-else@example.org>"
    stranger["Subject"] = "Not ours"
    stranger.set_content("x")

    response = post(client, delivery_status_notification(stranger))

    assert response.json()["status"] == "ignored"
    assert not LeadEvent.objects.exists()


# --- Complaints and unsubscribes by email --------------------------------------------------------


def test_a_spam_complaint_opts_the_lead_out_at_once(client, sent, lead):
    later = queued_email(lead)

    response = post(client, feedback_report(sent))

    assert response.json()["kind"] == "complaint"
    assert LeadEvent.objects.get().kind == "spam_complaint"
    lead.refresh_from_db()
    later.refresh_from_db()
    assert lead.consent_state == ConsentState.OPTED_OUT and later.status == "cancelled"
    assert ConsentRecord.objects.filter(lead=lead, channel="email", status="withdrawn").exists()
    assert DecisionLogEntry.objects.filter(event_type="consent.changed", subject_id=str(lead.pk)).exists()


def test_a_mail_to_the_unsubscribe_mailbox_opts_the_lead_out(client, sent, lead):
    mailto = sent["List-Unsubscribe"].split("<mailto:", 1)[1].split("?", 1)[0]
    request = EmailMessage()
    request["From"], request["To"], request["Subject"] = PROSPECT, mailto, "unsubscribe"
    request["Message-ID"] = make_msgid(domain="northwind.example")
    request.set_content("")

    response = post(client, request.as_bytes())

    assert response.json() == {"status": "recorded", "kind": "unsubscribe", "lead": lead.pk, "reason": ""}
    lead.refresh_from_db()
    assert lead.consent_state == ConsentState.OPTED_OUT
    assert LeadEvent.objects.get().kind == "unsubscribed"
