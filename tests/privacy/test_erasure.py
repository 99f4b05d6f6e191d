"""Data-subject requests: an erasure removes the person's values from every table (checked on the
raw rows), keeps them from being contacted again, and leaves the decision log verifiable; an access
request exports what is held about them. Both through the admin, state changes by POST only."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from approvals.models import Decision
from audit.models import DecisionLogEntry
from audit.services import audit_seal_pending
from connectors.models import ActionExecution, SyncConflict, WebhookEvent
from consent.keys import email_key
from consent.models import ConsentRecord
from notifications.models import Notification
from privacy.models import DataSubjectRequest
from privacy.services import PrivacyError, access_export, data_subject_request_create, erasure_execute
from sales.choices import LeadProducer
from sales.models import Cadence, CadenceStep, Enrolment, Lead, LeadEvent, MessageTemplate, Touch
from sales.services import lead_bulk_upsert
from support.models import BotRun, SurveyResponse, Ticket
from tests.connectors.inbound_support import make_connection
from tests.factories import LeadFactory, ProposedActionFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

EMAIL = "Grace.Hopper@Navy.example"
PHONE = "+15550100777"
FIRST, LAST = "Grace", "Hopperton"
NEEDLES = [EMAIL.lower(), PHONE, FIRST.lower(), LAST.lower()]


@pytest.fixture
def person():
    """Grace as the product holds her: a lead with events, a cadence touch and a message, a ticket
    with a survey and a bot run, raw webhook events, a sync conflict and a notification; and
    Alan, another person, who must be left alone."""
    now = timezone.now()
    lead = LeadFactory(
        first_name=FIRST,
        last_name=LAST,
        email=EMAIL,
        phone=PHONE,
        consent_state="granted",
        salesforce_id="00Q000000000001",
        external_id="sf-grace",
        attributes={"linkedin": "in/gracehopperton"},
    )
    LeadEvent.objects.create(
        lead=lead, kind="web_visit", occurred_at=now, external_id="ev-1", properties={"form_email": EMAIL}
    )
    template = MessageTemplate.objects.create(name="Intro", channel="email", subject="Hi", body="Hi")
    cadence = Cadence.objects.create(name="Inbound hot")
    step = CadenceStep.objects.create(
        cadence=cadence, position=1, channel="email", wait_days=0, template=template
    )
    enrolment = Enrolment.objects.create(
        lead=lead, cadence=cadence, status="active", next_position=2, next_step_at=now, enrolled_at=now
    )
    message = ProposedActionFactory(
        lead=lead,
        kind="send_email",
        status="pending_approval",
        payload={"to": EMAIL, "subject": f"Hello {FIRST}", "body": f"Hi {FIRST}, call me on {PHONE}."},
        rationale=f"Step 1 for {FIRST} {LAST}.",
    )
    Touch.objects.create(
        enrolment=enrolment,
        lead=lead,
        step=step,
        position=1,
        channel="email",
        status="proposed",
        action=message,
        touched_at=now,
    )
    sent = ProposedActionFactory(
        lead=lead,
        kind="create_task",
        status="failed",
        payload={"subject": f"Call {FIRST} {LAST}", "description": "x"},
    )
    Decision.objects.create(
        action=sent,
        outcome="reject",
        reason_code="other",
        comment=f"{FIRST} asked us not to",
        original_payload=sent.payload,
    )
    ActionExecution.objects.create(action=sent, due_at=now, last_error=f"vendor said: no task for {EMAIL}")
    Notification.objects.create(
        action=message,
        address="olivia@example.com",
        channel="email",
        kind="new_high_priority",
        dedupe_key="n1",
        batch="00000000-0000-0000-0000-000000000001",
        subject=f"Approve email to {FIRST} {LAST}",
        body=f"To {EMAIL}",
    )
    ticket = TicketFactory(
        requester_email=EMAIL.upper(),
        requester_name=f"{FIRST} {LAST}",
        subject="Card",
        body=f"I am {FIRST} {LAST}, my phone is {PHONE}.",
    )
    SurveyResponse.objects.create(ticket=ticket, score=2, comment=f"- {FIRST}", responded_at=now)
    BotRun.objects.create(ticket=ticket, outcome="handed_off", summary={"asked": f"I am {FIRST} {LAST}"})
    sf = make_connection("salesforce")
    WebhookEvent.objects.create(
        connection=sf,
        vendor="salesforce",
        event_id="w1",
        entity_kind="lead",
        entity_id="00Q000000000001",
        received_at=now,
        fingerprint="w1",
        payload={"Email": EMAIL, "LastName": LAST},
        raw_body=f"<Email>{EMAIL}</Email>",
    )
    WebhookEvent.objects.create(
        connection=sf,
        vendor="salesforce",
        event_id="w2",
        entity_kind="lead",
        entity_id="00Q000000000999",
        received_at=now,
        fingerprint="w2",
        payload={"Note": f"forwarded by {EMAIL.lower()}"},
    )
    SyncConflict.objects.create(
        connection=sf,
        record_kind="lead",
        record_id=lead.pk,
        vendor_id="00Q000000000001",
        field_name="email",
        ours=EMAIL,
        theirs="g@old.example",
        kept="ours",
    )
    alan = LeadFactory(first_name="Alan", last_name="Turing", email="alan@example.com", phone="+15550100999")
    return {"lead": lead, "ticket": ticket, "message": message, "alan": alan}


def _tables_holding(needles):
    """Every (table, needle) whose raw rows contain one of the needles, case-insensitively."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            text = " ".join(str(row) for row in cursor.fetchall()).lower()
            found += [(table, n) for n in needles if n in text]
    return found


def test_an_erasure_removes_the_person_from_every_table_and_keeps_the_log_verifiable(person):
    ops = UserFactory(username="olivia", is_staff=True)
    request = data_subject_request_create(kind="erasure", email=EMAIL, user=ops, notes="letter 2026-11-27")
    audit_seal_pending()  # the entries so far are in the hash chain before the erasure
    sealed_before = DecisionLogEntry.objects.count()
    held = {table for table, _ in _tables_holding(NEEDLES)}
    assert {
        "sales_lead",
        "approvals_proposedaction",
        "notifications_notification",
    } <= held  # the scan sees them

    done = erasure_execute(request=request, user=ops)

    assert _tables_holding(NEEDLES) == []
    lead = Lead.objects.get(pk=person["lead"].pk)
    assert (lead.email, lead.phone, lead.first_name, lead.last_name, lead.attributes) == ("", "", "", "", {})
    assert (lead.salesforce_id, lead.consent_state) == ("00Q000000000001", "opted_out")  # ids, state kept
    ticket = Ticket.objects.get(pk=person["ticket"].pk)
    assert (ticket.requester_email, ticket.requester_name, ticket.body) == ("", "", "")
    assert SurveyResponse.objects.get().score == 2 and BotRun.objects.get().summary == {}
    assert [(e.payload, e.raw_body) for e in WebhookEvent.objects.all()] == [({}, "")] * 2
    message = person["message"]
    message.refresh_from_db()
    assert message.status == "cancelled"  # the queued message never goes out
    alan = Lead.objects.get(pk=person["alan"].pk)
    assert (alan.email, alan.first_name) == ("alan@example.com", "Alan")
    assert (done.status, done.subject_email) == ("completed", "")
    assert done.subject_key == email_key(EMAIL) and done.result["leads"] == 1 and done.result["tickets"] == 1

    audit_seal_pending()
    out = StringIO()
    call_command("verify_audit_log", stdout=out)
    assert "decision log intact" in out.getvalue()
    assert DecisionLogEntry.objects.count() > sealed_before
    entry = DecisionLogEntry.objects.get(event_type="privacy.erasure")
    assert "email" not in entry.input_context  # not even a hash: the request row keeps its keyed subject_key


def test_an_erased_address_imported_again_arrives_opted_out(person):
    request = data_subject_request_create(kind="erasure", email=EMAIL, user=None)
    erasure_execute(request=request, user=None)

    outcome = lead_bulk_upsert(
        rows=[
            {"source": "api", "external_id": "again-1", "email": EMAIL.lower(), "consent_state": "granted"},
            {
                "source": "api",
                "external_id": "other-1",
                "email": "new@example.com",
                "consent_state": "granted",
            },
        ],
        actor="import",
        producer=LeadProducer.IMPORT,
    )

    assert outcome.ok
    states = dict(Lead.objects.filter(source="api").values_list("external_id", "consent_state"))
    assert states == {"again-1": "opted_out", "other-1": "granted"}
    suppression = ConsentRecord.objects.filter(lead=None, email_key=email_key(EMAIL))
    assert sorted(suppression.values_list("channel", flat=True)) == ["email", "linkedin", "phone", "sms"]


def test_an_access_request_exports_what_is_held_about_the_person(person):
    request = data_subject_request_create(kind="access", email=EMAIL.lower(), user=None)

    document = access_export(request=request, user=None)

    [lead] = document["leads"]
    assert (lead["email"], lead["phone"], lead["first_name"]) == (EMAIL, PHONE, FIRST)
    assert lead["events"][0]["properties"] == {"form_email": EMAIL}
    assert [t["requester_name"] for t in document["tickets"]] == [f"{FIRST} {LAST}"]
    assert document["tickets"][0]["survey"]["score"] == 2
    assert {a["kind"] for a in document["proposed_actions"]} == {"send_email", "create_task"}
    assert document["enrolments"][0]["cadence__name"] == "Inbound hot"
    assert "alan@example.com" not in str(document)
    request.refresh_from_db()
    assert (request.status, request.subject_email, request.result["leads"]) == ("completed", "", 1)
    assert DecisionLogEntry.objects.filter(event_type="privacy.access").exists()


def test_a_request_is_carried_out_once_and_bad_input_names_the_field(person):
    request = data_subject_request_create(kind="access", email=EMAIL, user=None)
    access_export(request=request, user=None)
    with pytest.raises(PrivacyError) as again:
        access_export(request=request, user=None)
    assert again.value.field == "status"
    with pytest.raises(PrivacyError) as wrong_kind:
        erasure_execute(request=data_subject_request_create(kind="access", email=EMAIL, user=None), user=None)
    assert wrong_kind.value.field == "kind"
    with pytest.raises(PrivacyError) as bad_email:
        data_subject_request_create(kind="erasure", email="not-an-address", user=None)
    assert bad_email.value.field == "subject_email"


def test_ops_admins_open_and_execute_an_erasure_in_the_admin_by_post_after_confirming(person, client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    added = client.post(
        "/admin/privacy/datasubjectrequest/add/",
        {"kind": "erasure", "subject_email": EMAIL, "notes": "ref 7"},
    )
    assert added.status_code == 302
    request = DataSubjectRequest.objects.get()
    changelist = "/admin/privacy/datasubjectrequest/"
    form = {"action": "execute_erasure", "_selected_action": [request.pk]}

    confirm = client.post(changelist, form)
    assert confirm.status_code == 200 and b"Erasure cannot be undone" in confirm.content
    request.refresh_from_db()
    assert request.status == "pending"  # nothing yet

    done = client.post(changelist, {**form, "confirmed": "yes"})
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == "completed"
    assert Lead.objects.get(pk=person["lead"].pk).email == ""
    assert client.get(changelist).status_code == 200


def test_the_access_export_downloads_as_json_from_the_admin(person, client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    request = data_subject_request_create(kind="access", email=EMAIL, user=None)

    response = client.post(
        "/admin/privacy/datasubjectrequest/",
        {"action": "download_access_export", "_selected_action": [request.pk]},
    )

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json()["leads"][0]["last_name"] == LAST
