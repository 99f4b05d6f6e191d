"""What a prospect does, as the CRM records it, reaches the leads (issue 18): HubSpot's email
engagements, meetings and deals, Salesforce's EmailMessages, Events, call Tasks and Opportunities
become lead events through the webhooks and the incremental sync, once each, at the CRM's time; a
reply, a bounce or a meeting ends the cadence at once; a won deal sets the lead's outcome.

Against the HubSpot and Salesforce sandboxes over HTTP, with the official clients; webhooks are what
the sandboxes sent (repeated and shuffled where the test says so), posted to our endpoints.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from connectors.inbound import inbound_process_pending
from connectors.models import WebhookEvent
from connectors.sandbox.hubspot import HubSpotSandbox, hs_datetime
from connectors.sandbox.salesforce import SalesforceSandbox, sf_datetime
from connectors.sync import sync_run
from sales.models import Cadence, CadenceStep, Enrolment, Lead, LeadEvent, MessageTemplate, Touch
from scoring.features import parse_spec
from scoring.models import FeatureSet
from scoring.selectors import lead_rows, training_leads
from tests.connectors.inbound_support import call, make_connection, post_all, webhook_path

pytestmark = pytest.mark.django_db

SF_API = "/services/data/v59.0"
NOW = datetime.now(UTC).replace(microsecond=0)
#: HubSpot-defined association types: email, meeting and deal to contact.
EMAIL_TO_CONTACT, MEETING_TO_CONTACT, DEAL_TO_CONTACT = 198, 200, 3


def _association(contact_id: str, type_id: int) -> list[dict]:
    return [
        {
            "to": {"id": contact_id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
        }
    ]


class HubSpotWorld:
    """The HubSpot sandbox, a connection to it, and the webhooks it sent, posted to our endpoint."""

    def __init__(self, app: HubSpotSandbox, inbox, settings) -> None:
        settings.AGENTOPS_BASE_URL = inbox.url  # the address HubSpot signs for
        self.app, self.inbox = app, inbox
        self.connection = make_connection("hubspot", base_url=app.base_url)
        app.webhooks.configure(url=f"{inbox.url}{webhook_path(self.connection)}")
        self.posted = 0

    def contact(self, email: str = "ada@northwind.example") -> str:
        created = call(self.app, "POST", "/crm/v3/objects/contacts", {"properties": {"email": email}})
        return str(json.loads(created.body)["id"])

    def create(self, object_type: str, properties: dict, contact_id: str, type_id: int) -> str:
        body = {"properties": properties, "associations": _association(contact_id, type_id)}
        created = call(self.app, "POST", f"/crm/v3/objects/{object_type}", body)
        return str(json.loads(created.body)["id"])

    def update(self, object_type: str, object_id: str, **properties: str) -> None:
        call(self.app, "PATCH", f"/crm/v3/objects/{object_type}/{object_id}", {"properties": properties})

    def deliver(self) -> list[int]:
        """Post what the sandbox sent since the last call, then apply it as the task would."""
        assert self.app.webhooks.drain()
        deliveries = self.inbox.app.deliveries()[self.posted :]
        self.posted += len(deliveries)
        statuses = post_all(Client(), webhook_path(self.connection), deliveries)
        inbound_process_pending(connection_id=self.connection.pk)
        return statuses

    def lead(self, contact_id: str) -> Lead:
        return Lead.objects.get(hubspot_id=contact_id)


@pytest.fixture
def hubspot(serve_sandbox, webhook_inbox, settings) -> HubSpotWorld:
    app = HubSpotSandbox()
    serve_sandbox(app)
    return HubSpotWorld(app, webhook_inbox, settings)


def _enrol(lead: Lead, *, touched_at: datetime | None = None) -> Enrolment:
    """An active enrolment begun yesterday whose first email went out (a sent touch)."""
    template = MessageTemplate.objects.create(
        name=f"Intro {lead.pk}", channel="email", subject="Hi", body="Hi"
    )
    cadence = Cadence.objects.create(name=f"Hot {lead.pk}")
    step = CadenceStep.objects.create(
        cadence=cadence, position=1, channel="email", wait_days=0, template=template
    )
    CadenceStep.objects.create(cadence=cadence, position=2, channel="email", wait_days=2, template=template)
    started = NOW - timedelta(days=1)
    enrolment = Enrolment.objects.create(
        lead=lead, cadence=cadence, status="active", next_position=2,
        next_step_at=NOW + timedelta(days=2), enrolled_at=started,
    )  # fmt: skip
    Touch.objects.create(
        enrolment=enrolment, lead=lead, step=step, position=1, channel="email",
        touched_at=touched_at or started, status="sent", template_version=1,
    )  # fmt: skip
    return enrolment


def _events(lead: Lead) -> list[tuple[str, str]]:
    return sorted(LeadEvent.objects.filter(lead=lead).values_list("kind", "external_id"))


# HubSpot ------------------------------------------------------------------------------------------
def test_a_reply_logged_in_hubspot_ends_the_cadence_at_once_at_the_crms_time(hubspot):
    contact = hubspot.contact()
    hubspot.deliver()
    lead = hubspot.lead(contact)
    enrolment = _enrol(lead)
    replied_at = NOW - timedelta(minutes=5)

    email = hubspot.create(
        "emails",
        {
            "hs_timestamp": hs_datetime(replied_at),
            "hs_email_direction": "INCOMING_EMAIL",
            "hs_email_subject": "Re: Hi",
        },
        contact,
        EMAIL_TO_CONTACT,
    )
    assert set(hubspot.deliver()) == {200}

    event = LeadEvent.objects.get(lead=lead)
    assert (event.kind, event.external_id, event.occurred_at) == (
        "email_reply",
        f"hubspot:email:{email}:reply",
        replied_at,
    )
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "replied")  # before any tick
    assert Touch.objects.get(enrolment=enrolment).replied_at == replied_at


def test_hubspot_engagements_repeated_and_shuffled_are_each_recorded_once(hubspot):
    hubspot.app.webhooks.configure(
        url=hubspot.app.webhooks.url, duplicate_rate=0.6, shuffle=True, seed=7, batch_seconds=0.3
    )
    contact = hubspot.contact()
    sent_at, booked_start = NOW - timedelta(hours=2), NOW + timedelta(days=3)
    email = hubspot.create(
        "emails",
        {"hs_timestamp": hs_datetime(sent_at), "hs_email_direction": "EMAIL", "hs_email_status": "SENT"},
        contact,
        EMAIL_TO_CONTACT,
    )
    hubspot.update("emails", email, hs_email_open_count="1")
    meeting = hubspot.create(
        "meetings",
        {"hs_timestamp": hs_datetime(booked_start), "hs_meeting_start_time": hs_datetime(booked_start)},
        contact,
        MEETING_TO_CONTACT,
    )
    deal = hubspot.create(
        "deals", {"dealname": "Northwind", "dealstage": "appointmentscheduled"}, contact, DEAL_TO_CONTACT
    )

    statuses = hubspot.deliver()
    inbound_process_pending(connection_id=hubspot.connection.pk)  # the contact came in a later delivery

    assert set(statuses) == {200}
    assert len(statuses) > WebhookEvent.objects.count()  # repeats were delivered too, stored once
    lead = hubspot.lead(contact)
    assert _events(lead) == sorted(
        [
            ("email_sent", f"hubspot:email:{email}:sent"),
            ("email_open", f"hubspot:email:{email}:open"),
            ("meeting_booked", f"hubspot:meeting:{meeting}:booked"),
            ("deal_stage", f"hubspot:deal:{deal}:stage:appointmentscheduled"),
        ]
    )
    sent = LeadEvent.objects.get(lead=lead, kind="email_sent")
    assert sent.occurred_at == sent_at
    booked = LeadEvent.objects.get(lead=lead, kind="meeting_booked")
    created = hubspot.app.tables["meetings"][meeting]["properties"]["hs_createdate"]
    assert booked.occurred_at == datetime.fromisoformat(created.replace("Z", "+00:00"))
    assert booked.properties["starts_at"] == booked_start.isoformat()

    # The sync reads the same records again: nothing is written twice.
    for kind in ("email", "meeting", "deal"):
        sync_run(connection=hubspot.connection, kind=kind)
    assert LeadEvent.objects.filter(lead=lead).count() == 4


def test_a_won_hubspot_deal_converts_its_lead_at_the_close_date_with_its_amount(hubspot):
    contact = hubspot.contact()
    deal = hubspot.create(
        "deals", {"dealname": "Northwind", "dealstage": "contractsent"}, contact, DEAL_TO_CONTACT
    )
    hubspot.deliver()
    lead = hubspot.lead(contact)
    assert (lead.outcome, lead.deal_value) == ("unknown", None)
    closed = NOW - timedelta(hours=1)

    hubspot.update("deals", deal, dealstage="closedwon", amount="48000.00", closedate=hs_datetime(closed))
    hubspot.deliver()

    lead.refresh_from_db()
    assert (lead.outcome, lead.outcome_at, lead.deal_value) == ("converted", closed, Decimal("48000.00"))
    assert LeadEvent.objects.get(lead=lead, kind="deal_won").occurred_at == closed
    # What train_lead_model reads next: this lead, a positive label as of the close date.
    demo = FeatureSet.objects.get(name="demo-b2b")
    feature_set = FeatureSet.objects.create(
        name="hubspot-leads", lead_source="hubspot", features=demo.features
    )
    rows = lead_rows(
        training_leads(feature_set), parse_spec(feature_set.features), as_of=None, at_outcome=True
    )
    assert list(zip(rows.ids, rows.outcomes, strict=True)) == [(lead.pk, "converted")]


def test_a_deal_whose_buyer_is_added_later_reaches_the_lead_by_its_association_change(hubspot):
    contact = hubspot.contact()
    created = call(
        hubspot.app,
        "POST",
        "/crm/v3/objects/deals",
        {"properties": {"dealname": "N", "dealstage": "closedwon"}},
    )
    deal = str(json.loads(created.body)["id"])
    hubspot.deliver()
    lead = hubspot.lead(contact)
    assert not LeadEvent.objects.filter(lead=lead).exists()  # about no one yet

    call(hubspot.app, "PUT", f"/crm/v4/objects/deals/{deal}/associations/default/contacts/{contact}")
    hubspot.deliver()

    assert {k for k, _ in _events(lead)} == {"deal_stage", "deal_won"}
    lead.refresh_from_db()
    assert lead.outcome == "converted"


def test_a_lost_deal_never_undoes_a_conversion(hubspot):
    contact = hubspot.contact()
    hubspot.create("deals", {"dealname": "A", "dealstage": "closedwon"}, contact, DEAL_TO_CONTACT)
    hubspot.deliver()
    lead = hubspot.lead(contact)
    assert lead.outcome == "converted"
    converted_at = lead.outcome_at

    hubspot.create("deals", {"dealname": "B", "dealstage": "closedlost"}, contact, DEAL_TO_CONTACT)
    hubspot.deliver()

    lead.refresh_from_db()
    assert (lead.outcome, lead.outcome_at) == ("converted", converted_at)
    assert {k for k, _ in _events(lead)} >= {"deal_won", "deal_lost"}


def test_a_hubspot_bounce_suppresses_email_and_ends_the_cadence(hubspot, django_capture_on_commit_callbacks):
    from privacy.selectors import consent_states

    contact = hubspot.contact()
    hubspot.deliver()
    lead = hubspot.lead(contact)
    enrolment = _enrol(lead)
    email = hubspot.create(
        "emails",
        {"hs_timestamp": hs_datetime(NOW), "hs_email_direction": "EMAIL", "hs_email_status": "SENDING"},
        contact,
        EMAIL_TO_CONTACT,
    )
    hubspot.update("emails", email, hs_email_status="BOUNCED")

    with django_capture_on_commit_callbacks(execute=True):
        hubspot.deliver()

    assert [k for k, _ in _events(lead)] == ["email_bounce"]
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "bounced")
    assert consent_states(leads=[lead])[lead.pk]["email"] == "withdrawn"


def test_an_unsubscribe_in_hubspot_is_the_leads_unsubscribed_event_and_an_opt_out(hubspot):
    properties = ["email", "firstname", "lastname", "hs_email_optout"]  # as docs/connectors.md says
    hubspot.connection.options = {"properties": {"lead": properties}}
    hubspot.connection.save()
    hubspot.app.webhooks.configure(url=hubspot.app.webhooks.url, duplicate_rate=1.0)
    contact = hubspot.contact()
    hubspot.deliver()
    lead = hubspot.lead(contact)
    enrolment = _enrol(lead)

    hubspot.update("contacts", contact, hs_email_optout="true")
    hubspot.deliver()

    event = LeadEvent.objects.get(lead=lead)
    changed = hubspot.app.tables["contacts"][contact]["properties"]["lastmodifieddate"]
    assert (event.kind, event.external_id) == ("unsubscribed", f"hubspot:optout:{contact}")
    assert event.occurred_at == datetime.fromisoformat(changed.replace("Z", "+00:00"))
    lead.refresh_from_db()
    enrolment.refresh_from_db()
    assert (lead.consent_state, enrolment.exit_reason) == ("opted_out", "opted_out")


def test_an_engagement_about_a_contact_not_yet_here_waits_for_it(hubspot):
    # The meeting's delivery is applied before the contact's (another batch, out of order).
    contact = hubspot.contact()
    assert hubspot.app.webhooks.drain()
    creation = hubspot.inbox.app.deliveries()
    hubspot.posted = len(creation)  # held back
    hubspot.create("meetings", {"hs_timestamp": hs_datetime(NOW)}, contact, MEETING_TO_CONTACT)
    hubspot.deliver()
    waiting = WebhookEvent.objects.get(entity_kind="meeting")
    assert (waiting.status, waiting.error) == ("received", f"no lead of ours for {contact}")

    post_all(Client(), webhook_path(hubspot.connection), creation)
    inbound_process_pending(connection_id=hubspot.connection.pk)

    assert [k for k, _ in _events(hubspot.lead(contact))] == ["meeting_booked"]
    waiting.refresh_from_db()
    assert waiting.status == "processed"


def test_an_object_event_without_its_type_is_refused_naming_it_and_nothing_is_stored(hubspot, caplog):
    from connectors import signatures

    body = json.dumps(
        [
            {"eventId": 1, "subscriptionType": "object.creation", "objectId": 5001, "occurredAt": 1},
        ]
    ).encode()
    url = f"{hubspot.inbox.url}{webhook_path(hubspot.connection)}"
    timestamp = str(int(datetime.now(UTC).timestamp() * 1000))
    signature = signatures.hubspot_sign_v3(
        client_secret=hubspot.app.client_secret, method="POST", uri=url, body=body, timestamp=timestamp
    )
    headers = {signatures.HUBSPOT_SIGNATURE_HEADER: signature, signatures.HUBSPOT_TIMESTAMP_HEADER: timestamp}

    answer = Client().post(
        webhook_path(hubspot.connection), data=body, content_type="application/json", headers=headers
    )

    assert answer.status_code == 400
    assert "objectTypeId missing" in caplog.text
    assert not WebhookEvent.objects.exists()


def test_a_record_missing_its_time_fails_naming_the_field_and_the_others_apply(hubspot):
    contact = hubspot.contact()
    hubspot.deliver()
    bad = hubspot.create(
        "emails",
        {"hs_timestamp": "yesterday", "hs_email_direction": "INCOMING_EMAIL"},
        contact,
        EMAIL_TO_CONTACT,
    )
    good = hubspot.create("meetings", {"hs_timestamp": hs_datetime(NOW)}, contact, MEETING_TO_CONTACT)

    hubspot.deliver()

    failed = WebhookEvent.objects.get(entity_kind="email")
    assert failed.status == "failed"
    assert failed.error == f"email {bad}: hs_timestamp: 'yesterday' is not a time"
    assert _events(hubspot.lead(contact)) == [("meeting_booked", f"hubspot:meeting:{good}:booked")]


# Salesforce ---------------------------------------------------------------------------------------
@pytest.fixture
def salesforce(serve_sandbox) -> SalesforceSandbox:
    app = SalesforceSandbox()
    serve_sandbox(app)
    return app


def _sf_create(app: SalesforceSandbox, sobject: str, fields: dict) -> str:
    return str(json.loads(call(app, "POST", f"{SF_API}/sobjects/{sobject}", fields).body)["id"])


def test_salesforce_meetings_calls_and_emails_arrive_by_the_sync_at_their_times(salesforce):
    connection = make_connection("salesforce", base_url=salesforce.base_url)
    lead_id = _sf_create(salesforce, "Lead", {"LastName": "Lovelace", "Company": "Northwind"})
    sync_run(connection=connection, kind="lead")
    lead = Lead.objects.get(salesforce_id=lead_id)
    enrolment = _enrol(lead)
    called, replied = NOW - timedelta(hours=3), NOW - timedelta(hours=1)
    event = _sf_create(
        salesforce, "Event", {"WhoId": lead_id, "Subject": "Demo", "StartDateTime": sf_datetime(NOW)}
    )
    task = _sf_create(
        salesforce,
        "Task",
        {
            "WhoId": lead_id,
            "Subject": "Call",
            "TaskSubtype": "Call",
            "CompletedDateTime": sf_datetime(called),
        },
    )
    _sf_create(salesforce, "Task", {"WhoId": lead_id, "Subject": "Send deck"})  # a to-do: no signal
    message = _sf_create(
        salesforce,
        "EmailMessage",
        {"Subject": "Re: Hi", "Incoming": True, "Status": "0", "MessageDate": sf_datetime(replied)},
    )
    _sf_create(
        salesforce,
        "EmailMessageRelation",
        {"EmailMessageId": message, "RelationId": lead_id, "RelationType": "FromAddress"},
    )

    for kind in ("meeting", "call", "email"):
        sync_run(connection=connection, kind=kind)
        sync_run(connection=connection, kind=kind)  # again: nothing twice

    booked_at = salesforce.tables["Event"][event]["CreatedDate"]
    got = {e.kind: (e.external_id, e.occurred_at) for e in LeadEvent.objects.filter(lead=lead)}
    assert got == {
        "meeting_booked": (
            f"salesforce:event:{event[:15]}:booked",
            datetime.strptime(booked_at, "%Y-%m-%dT%H:%M:%S.%f%z"),
        ),
        "call_logged": (f"salesforce:task:{task[:15]}:call", called),
        "email_reply": (f"salesforce:email:{message[:15]}:reply", replied),
    }
    enrolment.refresh_from_db()
    assert enrolment.status == "exited"  # the meeting came first: meeting_booked


def test_a_meeting_and_a_call_by_outbound_message_reach_the_lead(salesforce, webhook_inbox):
    connection = make_connection("salesforce", base_url=salesforce.base_url)
    lead_id = _sf_create(salesforce, "Lead", {"LastName": "Lovelace", "Company": "Northwind"})
    sync_run(connection=connection, kind="lead")
    salesforce.outbound_objects |= {"Event", "Task"}  # the org's workflow rules
    salesforce.webhooks.configure(url=f"{webhook_inbox.url}/hooks", duplicate_rate=0.5, shuffle=True, seed=2)
    event = _sf_create(
        salesforce, "Event", {"WhoId": lead_id, "Subject": "Demo", "StartDateTime": sf_datetime(NOW)}
    )
    task = _sf_create(salesforce, "Task", {"WhoId": lead_id, "Subject": "Call", "Type": "Call"})
    assert salesforce.webhooks.drain()

    statuses = post_all(Client(), webhook_path(connection), webhook_inbox.app.deliveries())
    inbound_process_pending(connection_id=connection.pk)

    assert set(statuses) == {200}
    lead = Lead.objects.get(salesforce_id=lead_id)
    assert _events(lead) == [
        ("call_logged", f"salesforce:task:{task[:15]}:call"),
        ("meeting_booked", f"salesforce:event:{event[:15]}:booked"),
    ]


def test_a_won_opportunity_by_outbound_message_reaches_the_converted_lead(salesforce, webhook_inbox):
    connection = make_connection("salesforce", base_url=salesforce.base_url)
    lead_id = _sf_create(salesforce, "Lead", {"LastName": "Lovelace", "Company": "Northwind"})
    converted = salesforce.convert_lead(lead_id)
    sync_run(connection=connection, kind="lead")
    lead = Lead.objects.get(salesforce_id=lead_id)
    assert lead.outcome == "converted"
    first = lead.outcome_at
    salesforce.outbound_objects.add("Opportunity")  # the org's workflow rule on opportunities
    salesforce.webhooks.configure(url=f"{webhook_inbox.url}/hooks", duplicate_rate=1.0)
    opportunity = converted["ConvertedOpportunityId"]

    call(
        salesforce,
        "PATCH",
        f"{SF_API}/sobjects/Opportunity/{opportunity}",
        {"StageName": "Closed Won", "Amount": 91000},
    )
    assert salesforce.webhooks.drain()
    statuses = post_all(Client(), webhook_path(connection), webhook_inbox.app.deliveries())
    inbound_process_pending(connection_id=connection.pk)

    assert statuses == [200, 200]  # the change, and its repeat
    lead.refresh_from_db()
    assert (lead.outcome, lead.outcome_at, lead.deal_value) == ("converted", first, Decimal("91000"))
    assert {k for k, _ in _events(lead)} == {"deal_stage", "deal_won"}

    sync_run(connection=connection, kind="deal")  # the contact role leads there too: nothing new
    assert LeadEvent.objects.filter(lead=lead).count() == 2


# What the KPIs count ---------------------------------------------------------------------------------
def test_reply_and_meeting_kpis_count_what_came_from_the_crm(hubspot):
    from operations.kpi_series import meeting_conversion, reply_rate

    replier, booker = hubspot.contact("a@northwind.example"), hubspot.contact("b@northwind.example")
    hubspot.deliver()
    touched = NOW - timedelta(hours=6)
    _enrol(hubspot.lead(replier), touched_at=touched)
    _enrol(hubspot.lead(booker), touched_at=touched)
    start = touched - timedelta(days=1)
    assert reply_rate(start) == {touched.date(): (0, 2)}

    hubspot.create(
        "emails",
        {"hs_timestamp": hs_datetime(NOW), "hs_email_direction": "INCOMING_EMAIL"},
        replier,
        EMAIL_TO_CONTACT,
    )
    hubspot.create("meetings", {"hs_timestamp": hs_datetime(NOW)}, booker, MEETING_TO_CONTACT)
    hubspot.deliver()

    assert reply_rate(start) == {touched.date(): (1, 2)}
    assert meeting_conversion(start) == {touched.date(): (1, 2)}

    # The replier books a meeting too, after the reply ended its cadence: still its touch's doing.
    hubspot.create("meetings", {"hs_timestamp": hs_datetime(NOW)}, replier, MEETING_TO_CONTACT)
    hubspot.deliver()

    assert meeting_conversion(start) == {touched.date(): (2, 2)}


def test_the_cadence_page_and_the_experiment_panel_count_what_came_from_the_crm(hubspot):
    from sales.models import ExperimentAssignment, Playbook
    from sales.selectors import cadence_metrics, experiment_results

    treated, held_out = hubspot.contact("a@northwind.example"), hubspot.contact("b@northwind.example")
    hubspot.deliver()
    _enrol(hubspot.lead(treated))
    playbook = Playbook.objects.create(name="Inbound", control_share=0.5)
    for contact, arm in ((treated, "treatment"), (held_out, "control")):
        ExperimentAssignment.objects.create(
            playbook=playbook,
            lead=hubspot.lead(contact),
            arm=arm,
            rule_name="hot",
            assigned_at=NOW - timedelta(days=2),
        )

    for contact in (treated, held_out):
        hubspot.create(
            "emails",
            {"hs_timestamp": hs_datetime(NOW), "hs_email_direction": "INCOMING_EMAIL"},
            contact,
            EMAIL_TO_CONTACT,
        )
    hubspot.create("meetings", {"hs_timestamp": hs_datetime(NOW)}, treated, MEETING_TO_CONTACT)
    hubspot.deliver()

    [cadence] = cadence_metrics()
    assert (cadence.touched, cadence.replied, cadence.meetings) == (1, 1, 1)
    [experiment] = experiment_results()
    reply, meeting = experiment.effects["reply"], experiment.effects["meeting"]
    assert (reply.treatment_rate, reply.control_rate) == (1.0, 1.0)
    assert (meeting.treatment_rate, meeting.control_rate) == (1.0, 0.0)
