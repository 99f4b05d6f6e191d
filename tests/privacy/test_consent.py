"""The consent registry: per-channel state, withdrawals that reach queued work, the cadence and the
executor reading it at the moment they act, the API, and an opt-out arriving by CRM webhook."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from approvals.models import ProposedAction
from approvals.services import payload_sha256
from audit.models import DecisionLogEntry
from connectors.execution import actions_execute
from connectors.models import ActionExecution
from consent.keys import email_key
from consent.models import AppendOnlyError, ConsentRecord
from consent.selectors import consent_states
from privacy.selectors import message_refusal
from privacy.services import PrivacyError, consent_record, consent_withdraw
from sales.cadence import consent_for
from sales.cadence_services import cadences_advance, lead_opt_out
from sales.models import Cadence, CadenceStep, Enrolment, Lead, MessageTemplate, SdrQueue, Touch
from security.models import AccessDenial
from security.services import apikey_create
from tests.connectors.execution_world import fast_settings
from tests.factories import LeadFactory, ProposedActionFactory, UserFactory, sms_provider, user_in_role

pytestmark = pytest.mark.django_db

# Wednesday 15:00 UTC: working hours in London.
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def lead(**kw):
    values = {
        "email": "ada@northwind.example",
        "phone": "+447700900123",
        "consent_state": "granted",
        "timezone": "Europe/London",
    }
    values.update(kw)
    return LeadFactory(**values)


def approved(the_lead, kind, payload, key):
    return ProposedActionFactory(
        kind=kind,
        lead=the_lead,
        payload=payload,
        status="approved",
        approved_payload_sha256=payload_sha256(payload),
        idempotency_key=key,
    )


def test_it_keeps_consent_per_channel_so_an_sms_opt_out_leaves_email_alone():
    ada = lead(consent_state="unknown")
    consent_record(lead_id=ada.pk, channel="email", status="granted", source="form", actor="web")
    consent_withdraw(lead_id=ada.pk, channels=["sms"], source="reply-unsubscribe", actor="sdr-agent")

    ada.refresh_from_db()
    states = consent_states(leads=[ada])[ada.pk]
    assert ada.consent_state == "granted"  # the lead's own state follows the grant
    assert (consent_for(ada, "email", states), consent_for(ada, "sms", states)) == ("granted", "withdrawn")
    assert consent_for(ada, "phone", states) == "granted"  # nothing recorded: the lead's state
    assert message_refusal(lead=ada, kind="send_email", to=ada.email) == ""
    assert "withdrew consent to sms" in message_refusal(lead=ada, kind="send_sms", to=ada.phone)
    [entry] = DecisionLogEntry.objects.filter(event_type="consent.changed", action_taken__channels=["sms"])
    assert entry.input_context["source"] == "reply-unsubscribe"


def test_the_latest_record_wins_and_records_are_never_changed():
    ada = lead()
    consent_withdraw(lead_id=ada.pk, channels=["email"], source="api", actor="x", now=NOW)
    consent_record(
        lead_id=ada.pk, channel="email", status="granted", source="form", actor="x", evidence="form 12"
    )
    assert consent_for(ada, "email", consent_states(leads=[ada])[ada.pk]) == "granted"

    record = ConsentRecord.objects.first()
    record.note = "changed"
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()


def test_withdrawing_every_channel_is_an_opt_out_and_a_grant_afterwards_reopens_one_channel():
    ada = lead()
    consent_withdraw(lead_id=ada.pk, source="admin", actor="olivia")
    ada.refresh_from_db()
    assert ada.consent_state == "opted_out"

    consent_record(
        lead_id=ada.pk, channel="email", status="granted", source="form", actor="web", evidence="form 12"
    )
    ada.refresh_from_db()
    states = consent_states(leads=[ada])[ada.pk]
    assert ada.consent_state == "granted"
    assert [consent_for(ada, c, states) for c in ("email", "sms", "phone", "linkedin")] == [
        "granted",
        "withdrawn",
        "withdrawn",
        "withdrawn",
    ]


@pytest.mark.parametrize("withdrawn", [["email"], ["email", "sms", "phone", "linkedin"], ["sms"]])
def test_a_grant_that_lifts_a_withdrawal_needs_evidence(withdrawn):
    ada = lead()
    consent_withdraw(lead_id=ada.pk, channels=withdrawn, source="reply-unsubscribe", actor="sdr-agent")
    channel = withdrawn[0]
    records = ConsentRecord.objects.count()

    with pytest.raises(PrivacyError) as refused:
        consent_record(
            lead_id=ada.pk, channel=channel, status="granted", source="form", actor="web", evidence=" "
        )

    assert refused.value.field == "evidence"
    assert ConsentRecord.objects.count() == records
    change = consent_record(
        lead_id=ada.pk, channel=channel, status="granted", source="form", actor="web", evidence="form 4711"
    )
    assert change.records[0].evidence == "form 4711"
    entry = DecisionLogEntry.objects.filter(event_type="consent.changed").order_by("id").last()
    assert entry.action_taken["lifts_withdrawal"] is True


def test_a_first_grant_needs_no_evidence():
    ada = lead(consent_state="unknown")
    consent_record(lead_id=ada.pk, channel="email", status="granted", source="form", actor="web")
    ada.refresh_from_db()
    assert ada.consent_state == "granted"


def test_an_opt_out_records_the_withdrawal_of_every_channel_as_its_proof():
    ada = lead()

    result = lead_opt_out(lead_id=ada.pk, source="webhook:hubspot", actor="connector:hubspot")

    records = ConsentRecord.objects.filter(lead=ada)
    assert sorted(records.values_list("channel", "status")) == [
        ("email", "withdrawn"),
        ("linkedin", "withdrawn"),
        ("phone", "withdrawn"),
        ("sms", "withdrawn"),
    ]
    assert set(records.values_list("source", "recorded_by")) == {("webhook:hubspot", "connector:hubspot")}
    assert {r.email_key for r in result.records} == {email_key(ada.email)}
    # consent_withdraw of every channel goes through it, and writes each record once.
    bo = lead(email="bo@northwind.example")
    consent_withdraw(lead_id=bo.pk, source="admin", actor="olivia")
    assert ConsentRecord.objects.filter(lead=bo).count() == 4


def test_a_withdrawal_cancels_queued_work_of_that_channel_only():
    ada = lead()
    sms = ProposedActionFactory(lead=ada, kind="send_sms", status="pending_approval", payload={"to": "x"})
    email = ProposedActionFactory(lead=ada, kind="send_email", status="pending_approval", payload={"to": "y"})

    change = consent_withdraw(lead_id=ada.pk, channels=["sms"], source="api", actor="api:crm")

    sms.refresh_from_db()
    email.refresh_from_db()
    assert (sms.status, email.status, change.messages_cancelled) == ("cancelled", "pending_approval", 1)
    entry = DecisionLogEntry.objects.get(
        event_type="action.transitioned", subject_id=str(sms.pk), action_taken__to="cancelled"
    )
    assert "withdrew consent to sms" in str(entry.action_taken)


@pytest.fixture
def mixed_cadence():
    sms = MessageTemplate.objects.create(name="Text", channel="sms", body="Hi {{ first_name }}, quick one?")
    intro = MessageTemplate.objects.create(
        name="Intro", channel="email", subject="Hello {{ first_name }}", body="Hi. {{ unsubscribe_url }}"
    )
    cadence = Cadence.objects.create(name="Mixed")
    CadenceStep.objects.create(cadence=cadence, position=1, channel="sms", wait_days=0, template=sms)
    CadenceStep.objects.create(cadence=cadence, position=2, channel="email", wait_days=0, template=intro)
    return cadence


def test_the_cadence_skips_a_withdrawn_channel_and_still_sends_on_the_others(mixed_cadence):
    ada = lead()
    enrolment = Enrolment.objects.create(
        lead=ada, cadence=mixed_cadence, status="active", next_position=1, next_step_at=NOW, enrolled_at=NOW
    )
    consent_withdraw(lead_id=ada.pk, channels=["sms"], source="reply-unsubscribe", actor="sdr-agent")

    cadences_advance(now=NOW)
    cadences_advance(now=NOW)  # the email step is due at once after the first

    touches = dict(Touch.objects.filter(enrolment=enrolment).values_list("channel", "status"))
    assert touches == {"sms": "skipped", "email": "proposed"}
    assert "withdrew consent to sms" in Touch.objects.get(channel="sms").reason
    assert list(ProposedAction.objects.filter(lead=ada).values_list("kind", flat=True)) == ["send_email"]
    enrolment.refresh_from_db()
    assert enrolment.status == "active"  # an SMS opt-out does not end the cadence


def test_a_withdrawal_cancels_a_proposed_cadence_message_of_that_channel(mixed_cadence):
    sms_provider()
    ada = lead()
    enrolment = Enrolment.objects.create(
        lead=ada, cadence=mixed_cadence, status="active", next_position=1, next_step_at=NOW, enrolled_at=NOW
    )
    cadences_advance(now=NOW)
    touch = Touch.objects.get(enrolment=enrolment, channel="sms")
    assert touch.action.status in ("proposed", "pending_approval", "approved")

    consent_withdraw(lead_id=ada.pk, channels=["sms"], source="api", actor="api:crm")

    touch.refresh_from_db()
    assert (touch.status, touch.action.status) == ("cancelled", "cancelled")


def test_the_executor_refuses_a_queued_message_whose_channel_was_withdrawn_at_execution_time():
    ada = lead()
    sms = approved(ada, "send_sms", {"to": ada.phone, "body": "Hi Ada"}, "sms-1")
    email = approved(ada, "send_email", {"to": ada.email, "subject": "Hi", "body": "Hi Ada"}, "mail-1")
    # Recorded while the work was already queued and past the cancelling (as a record written by an
    # import would be): only the executor's own check stands between it and the send.
    ConsentRecord.objects.create(
        lead=ada,
        email_key=email_key(ada.email),
        channel="sms",
        status="withdrawn",
        source="import",
        recorded_at=NOW,
        recorded_by="import",
    )

    actions_execute(settings=fast_settings())

    sms.refresh_from_db()
    email.refresh_from_db()
    assert (sms.status, email.status) == ("cancelled", "executed")
    assert len(mail.outbox) == 1
    assert "withdrew consent to sms" in ActionExecution.objects.get(action=sms).last_error
    assert DecisionLogEntry.objects.filter(
        subject_type="proposed_action", subject_id=str(sms.pk), action_taken__to="cancelled"
    ).exists()


def test_the_executor_refuses_an_email_to_a_suppressed_address_even_without_a_lead():
    consent_withdraw(email="Gone@Example.com", source="erasure", actor="olivia")
    payload = {"to": "gone@example.com", "subject": "Hi", "body": "Hello"}
    action = ProposedActionFactory(
        kind="send_email",
        lead=None,
        payload=payload,
        status="approved",
        approved_payload_sha256=payload_sha256(payload),
        idempotency_key="mail-gone",
    )

    actions_execute(settings=fast_settings())

    action.refresh_from_db()
    assert action.status == "cancelled" and not mail.outbox
    assert "suppressed" in ActionExecution.objects.get(action=action).last_error


def test_the_executor_refuses_an_email_whose_cc_withdrew_after_it_was_approved():
    ada = lead()
    payload = {"to": ada.email, "cc": ["cy@example.com", "eve@example.com"], "subject": "Hi", "body": "Hi"}
    action = approved(ada, "send_email", payload, "mail-cc")
    # Recorded after the approval, past the cancelling (as an import would): the executor's check.
    ConsentRecord.objects.create(
        email_key=email_key("Eve@Example.com"),
        channel="email",
        status="withdrawn",
        source="form",
        recorded_at=NOW,
        recorded_by="web",
    )

    actions_execute(settings=fast_settings())

    action.refresh_from_db()
    assert action.status == "cancelled" and not mail.outbox
    assert (
        "payload.cc[1]: the address withdrew consent to email"
        in ActionExecution.objects.get(action=action).last_error
    )


def test_the_executor_refuses_an_email_without_a_lead_to_an_address_that_withdrew_email_only():
    consent_withdraw(email="eve@example.com", channels=["email"], source="form", actor="web")
    payload = {"to": "eve@example.com", "subject": "Hi", "body": "Hello"}
    action = ProposedActionFactory(
        kind="send_email",
        lead=None,
        payload=payload,
        status="approved",
        approved_payload_sha256=payload_sha256(payload),
        idempotency_key="mail-eve",
    )

    actions_execute(settings=fast_settings())

    action.refresh_from_db()
    assert action.status == "cancelled" and not mail.outbox
    assert "payload.to" in ActionExecution.objects.get(action=action).last_error


def test_the_executor_refuses_an_email_to_the_address_of_a_lead_who_opted_out_without_records():
    lead(email="bo@northwind.example", consent_state="opted_out")  # opted out before records were kept
    payload = {"to": "bo@northwind.example", "subject": "Hi", "body": "Hello"}
    action = ProposedActionFactory(
        kind="send_email",
        lead=None,
        payload=payload,
        status="approved",
        approved_payload_sha256=payload_sha256(payload),
        idempotency_key="mail-bo",
    )

    actions_execute(settings=fast_settings())

    action.refresh_from_db()
    assert action.status == "cancelled" and not mail.outbox
    assert "who opted out" in ActionExecution.objects.get(action=action).last_error


def test_bad_input_names_the_field():
    ada = lead()
    with pytest.raises(PrivacyError) as bad_channel:
        consent_record(lead_id=ada.pk, channel="fax", status="granted", source="form", actor="x")
    assert bad_channel.value.field == "channel"
    with pytest.raises(PrivacyError) as bad_source:
        consent_record(lead_id=ada.pk, channel="email", status="granted", source="webhook", actor="x")
    assert bad_source.value.field == "source" and "webhook:hubspot" in str(bad_source.value)
    with pytest.raises(PrivacyError) as no_lead:
        consent_withdraw(lead_id=999999, channels=["email"], source="api", actor="x")
    assert no_lead.value.field == "lead"


# --- API ------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client():
    client = APIClient()
    client.force_authenticate(user_in_role("Ops admins", username="olivia", is_staff=True))
    return client


def test_the_api_records_a_withdrawal_and_reports_the_state_per_channel(staff_client):
    ada = lead()
    queued = ProposedActionFactory(
        lead=ada, kind="send_sms", status="approved", payload={"to": "x"}, approved_payload_sha256="x" * 64
    )

    response = staff_client.post(
        "/api/v1/consent/",
        {"lead": ada.pk, "channel": "sms", "status": "withdrawn", "source": "webhook:hubspot"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["channels"] == {
        "email": "granted",
        "sms": "withdrawn",
        "phone": "granted",
        "linkedin": "granted",
    }
    assert body["history"][0]["source"] == "webhook:hubspot"
    assert body["history"][0]["recorded_by"] == "api:olivia"
    queued.refresh_from_db()
    assert queued.status == "cancelled"

    with CaptureQueriesContext(connection) as queries:
        current = staff_client.get(f"/api/v1/consent/?lead={ada.pk}")
    assert current.status_code == 200 and current.json()["channels"]["sms"] == "withdrawn"
    assert len(queries) <= 4  # the user's session aside: the lead, its states, its history


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"channel": "sms", "status": "withdrawn"}, "lead", 400),
        ({"lead": "abc", "channel": "sms", "status": "withdrawn"}, "lead", 400),
        ({"lead": 1, "channel": "fax", "status": "withdrawn"}, "channel", 400),
        ({"lead": 1, "channel": "sms", "status": "maybe"}, "status", 400),
        ({"lead": 1, "channel": "sms", "status": "granted", "lawful_basis": "whim"}, "lawful_basis", 400),
        ({"lead": 1, "channel": "sms", "status": "granted", "source": "pigeon"}, "source", 400),
        ({"lead": 999999, "channel": "sms", "status": "granted"}, "lead", 404),
    ],
)
def test_the_api_names_the_bad_field(staff_client, body, field, status):
    ada = lead()
    if body.get("lead") == 1:
        body = {**body, "lead": ada.pk}

    response = staff_client.post("/api/v1/consent/", body, format="json")

    assert response.status_code == status
    assert response.json()["field"] == field and response.json()["detail"].startswith(f"{field}: ")
    assert not ConsentRecord.objects.exists()


def test_the_api_state_needs_a_lead(staff_client):
    missing = staff_client.get("/api/v1/consent/")
    assert missing.status_code == 400 and missing.json()["field"] == "lead"


def test_a_key_needs_write_leads_to_record_and_a_user_without_lead_rights_is_refused():
    ada = lead()
    integration = user_in_role("Integration accounts", username="hubspot-sync")
    body = {"lead": ada.pk, "channel": "email", "status": "withdrawn"}

    reader = APIClient()
    reader.credentials(
        HTTP_AUTHORIZATION=f"Bearer {apikey_create(user=integration, name='r', scopes=['read_leads']).plain}"
    )
    assert reader.get(f"/api/v1/consent/?lead={ada.pk}").status_code == 200
    refused = reader.post("/api/v1/consent/", body, format="json")
    assert refused.status_code == 403 and "write_leads" in refused.json()["detail"]

    writer = APIClient()
    writer.credentials(
        HTTP_AUTHORIZATION=f"Bearer {apikey_create(user=integration, name='w', scopes=['write_leads']).plain}"
    )
    assert writer.post("/api/v1/consent/", body, format="json").status_code == 201

    outsider = APIClient()
    outsider.force_authenticate(UserFactory(username="mallory"))
    assert outsider.post("/api/v1/consent/", body, format="json").status_code == 403
    assert outsider.get(f"/api/v1/consent/?lead={ada.pk}").status_code == 403


def test_an_unsubscribe_event_in_a_cadence_is_recorded_as_a_withdrawal_of_every_channel(mixed_cadence):
    ada = lead()
    Enrolment.objects.create(
        lead=ada, cadence=mixed_cadence, status="active", next_position=1, next_step_at=NOW, enrolled_at=NOW
    )
    ada.events.create(kind="unsubscribed", occurred_at=NOW, external_id="unsub-1")

    cadences_advance(now=NOW)

    ada.refresh_from_db()
    assert ada.consent_state == "opted_out"
    records = ConsentRecord.objects.filter(lead=ada, status="withdrawn", source="reply-unsubscribe")
    assert sorted(records.values_list("channel", flat=True)) == ["email", "linkedin", "phone", "sms"]


def test_a_team_scoped_manager_cannot_read_or_change_another_teams_lead_consent():
    sofia, wes = user_in_role("SDR managers", username="sofia"), UserFactory(username="wes")
    bob, eve = user_in_role("SDR managers", username="bob"), UserFactory(username="eve")
    SdrQueue.objects.create(name="West").members.add(sofia, wes)
    SdrQueue.objects.create(name="East").members.add(bob, eve)
    west, east = lead(), lead()
    Lead.objects.filter(pk=west.pk).update(owner=wes)
    Lead.objects.filter(pk=east.pk).update(owner=eve)
    client = APIClient()
    client.force_authenticate(sofia)

    assert client.get("/api/v1/consent/", {"lead": west.pk}).status_code == 200
    read = client.get("/api/v1/consent/", {"lead": east.pk})
    change = client.post(
        "/api/v1/consent/",
        {
            "lead": east.pk,
            "channel": "email",
            "status": "withdrawn",
            "lawful_basis": "consent",
            "source": "api",
        },
        format="json",
    )

    assert (read.status_code, read.json()["field"]) == (404, "lead")
    assert change.status_code == 403  # an SDR manager reads consent but records none
    assert not ConsentRecord.objects.filter(lead=east).exists()
    assert AccessDenial.objects.filter(username="sofia", object_id=str(east.pk)).count() == 1
