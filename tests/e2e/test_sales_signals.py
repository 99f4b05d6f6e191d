"""The sales loop closed with real signals (issue 18, "Done when"): a lead is enrolled, its first step
goes out through the outbox to a real SMTP server, and what the prospect does comes back the way it
would in production: as the CRM records it (the HubSpot and Salesforce sandboxes over HTTP, their
webhooks posted to our endpoints, their records read by the official clients) or as real mail to our
inbound-mail webhook. Replies end the cadence within one tick, a bounce suppresses email, a one-click
unsubscribe refuses the next queued message, a meeting and a won deal reach the KPIs and the lead's
training label, and an account's value in the CRM reaches the approval policy.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import urlsplit

import pytest
from django.test import Client

from approvals.models import ProposedAction
from approvals.services import payload_sha256
from approvals.subjects import policy_facts
from connectors.inbound import inbound_process_pending
from connectors.mail.signature import SIGNATURE_HEADER, inbound_mail_sign
from connectors.sandbox.hubspot import HubSpotSandbox, hs_datetime
from connectors.sandbox.salesforce import SalesforceSandbox
from connectors.sync import sync_run
from operations.kpi_series import meeting_conversion, reply_rate
from privacy.selectors import consent_states
from sales.cadence_services import cadences_advance
from sales.choices import ConsentState
from sales.models import Cadence, CadenceStep, Enrolment, Lead, LeadEvent, MessageTemplate
from sales.unsubscribe import unsubscribe_url
from scoring.features import parse_spec
from scoring.models import FeatureSet
from scoring.selectors import lead_rows, training_leads
from tests.connectors.conftest import serve_sandbox, webhook_inbox
from tests.connectors.inbound_support import call, make_connection, post_all, webhook_path
from tests.connectors.smtp import smtp_server
from tests.factories import ProposedActionFactory, approved_action
from tests.outbox import outbox_run

pytestmark = pytest.mark.django_db
__all__ = ["serve_sandbox", "smtp_server", "webhook_inbox"]  # the fixtures, used by name

SECRET = "e2e-inbound-mail-secret"
# A Wednesday afternoon in London, before the CRM records below (which carry the sandbox's own clock).
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
EMAIL_TO_CONTACT, MEETING_TO_CONTACT, DEAL_TO_CONTACT = 198, 200, 3


class Loop:
    """The CRM (HubSpot's sandbox, its webhooks posted to our endpoint), our mail (a local SMTP server
    and the inbound-mail webhook), and a two-step email cadence."""

    def __init__(self, hubspot: HubSpotSandbox, inbox, smtp) -> None:
        self.hubspot, self.inbox, self.smtp = hubspot, inbox, smtp
        self.connection = make_connection("hubspot", base_url=hubspot.base_url)
        hubspot.webhooks.configure(
            url=f"{inbox.url}{webhook_path(self.connection)}", duplicate_rate=0.5, seed=3
        )
        self.posted = 0
        intro = MessageTemplate.objects.create(
            name="Intro",
            channel="email",
            subject="Quick question",
            body="Hi. Unsubscribe: {{ unsubscribe_url }}",
        )
        bump = MessageTemplate.objects.create(
            name="Bump",
            channel="email",
            subject="Re: quick question",
            body="Any thoughts? {{ unsubscribe_url }}",
        )
        self.cadence = Cadence.objects.create(name="Inbound hot")
        CadenceStep.objects.create(
            cadence=self.cadence, position=1, channel="email", wait_days=0, template=intro
        )
        CadenceStep.objects.create(
            cadence=self.cadence, position=2, channel="email", wait_days=2, template=bump
        )

    # The CRM ---------------------------------------------------------------------------------------
    def create(
        self, object_type: str, properties: dict, contact_id: str | None = None, type_id: int = 0
    ) -> str:
        body: dict = {"properties": properties}
        if contact_id:
            body["associations"] = [
                {
                    "to": {"id": contact_id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
                }
            ]
        return str(json.loads(call(self.hubspot, "POST", f"/crm/v3/objects/{object_type}", body).body)["id"])

    def update(self, object_type: str, object_id: str, **properties: str) -> None:
        call(self.hubspot, "PATCH", f"/crm/v3/objects/{object_type}/{object_id}", {"properties": properties})

    def deliver(self) -> None:
        """What HubSpot sent since the last call, posted to our endpoint, then the minute's sweep."""
        assert self.hubspot.webhooks.drain()
        deliveries = self.inbox.app.deliveries()[self.posted :]
        self.posted += len(deliveries)
        assert set(post_all(Client(), webhook_path(self.connection), deliveries)) <= {200}
        inbound_process_pending(connection_id=self.connection.pk)

    # Our side ----------------------------------------------------------------------------------------
    def enrolled_lead(self, email: str) -> tuple[Lead, str, Enrolment]:
        """A HubSpot contact who gave consent, enrolled, whose first step went out: (lead, contact, enrolment)."""
        contact = self.create("contacts", {"email": email, "firstname": "Ada"})
        self.deliver()
        lead = Lead.objects.get(hubspot_id=contact)
        Lead.objects.filter(pk=lead.pk).update(consent_state=ConsentState.GRANTED, timezone="Europe/London")
        enrolment = Enrolment.objects.create(
            lead=lead,
            cadence=self.cadence,
            status="active",
            next_position=1,
            next_step_at=NOW,
            enrolled_at=NOW,
        )
        cadences_advance(now=NOW)
        step_one = ProposedAction.objects.get(lead=lead, kind="send_email")
        ProposedAction.objects.filter(pk=step_one.pk).update(
            status="approved", approved_payload_sha256=payload_sha256(step_one.payload)
        )  # a person approved it
        sent = len(self.smtp.messages)
        assert outbox_run() == {"executed": 1}
        assert len(self.smtp.messages) == sent + 1
        return lead, contact, enrolment

    def steps_sent(self, lead: Lead) -> int:
        return sum(1 for recipients, _ in self.smtp.messages if lead.email in recipients)

    def next_tick(self) -> None:
        """The cadence tick when step 2 is due, then the outbox."""
        cadences_advance(now=NOW + timedelta(days=3))
        outbox_run()


@pytest.fixture
def loop(serve_sandbox, webhook_inbox, smtp_server, settings) -> Loop:
    settings.AGENTOPS_BASE_URL = webhook_inbox.url  # the address HubSpot signs for
    settings.AGENTOPS_INBOUND_MAIL_SECRET = SECRET
    app = HubSpotSandbox()
    serve_sandbox(app)
    return Loop(app, webhook_inbox, smtp_server)


def _ended(enrolment: Enrolment) -> tuple[str, str]:
    enrolment.refresh_from_db()
    return enrolment.status, enrolment.exit_reason


# Replies --------------------------------------------------------------------------------------------
def test_a_reply_logged_in_the_crm_ends_the_cadence_and_no_further_step_is_sent(loop):
    lead, contact, enrolment = loop.enrolled_lead("ada@northwind.example")

    loop.create(
        "emails",
        {"hs_timestamp": hs_datetime(datetime.now(UTC)), "hs_email_direction": "INCOMING_EMAIL"},
        contact,
        EMAIL_TO_CONTACT,
    )
    loop.deliver()

    assert _ended(enrolment) == ("exited", "replied")
    loop.next_tick()
    assert loop.steps_sent(lead) == 1


def test_a_real_reply_email_ends_the_cadence_the_same_way(loop):
    lead, _, enrolment = loop.enrolled_lead("grace@northwind.example")
    original = message_from_bytes(loop.smtp.messages[-1][1], policy=policy.default)
    reply = EmailMessage()
    reply["From"] = f"Grace <{lead.email}>"
    reply["To"] = original["Reply-To"]
    reply["Subject"] = f"Re: {original['Subject']}"
    reply["Message-ID"] = make_msgid(domain="northwind.example")
    reply["In-Reply-To"] = original["Message-ID"]
    reply.set_content("Interesting, tell me more.\n")
    raw = reply.as_bytes()

    answer = Client().post(
        "/webhooks/mail/inbound/",
        data=raw,
        content_type="message/rfc822",
        headers={SIGNATURE_HEADER: inbound_mail_sign(secret=SECRET, body=raw)},
    )

    assert answer.json()["status"] == "recorded"
    assert _ended(enrolment) == ("exited", "replied")
    loop.next_tick()
    assert loop.steps_sent(lead) == 1


# Bounces and unsubscribes ---------------------------------------------------------------------------
def test_a_bounce_in_the_crm_suppresses_email_to_the_lead(loop, django_capture_on_commit_callbacks):
    lead, contact, enrolment = loop.enrolled_lead("bounce@northwind.example")
    email = loop.create(
        "emails",
        {
            "hs_timestamp": hs_datetime(datetime.now(UTC)),
            "hs_email_direction": "EMAIL",
            "hs_email_status": "SENDING",
        },
        contact,
        EMAIL_TO_CONTACT,
    )
    loop.update("emails", email, hs_email_status="BOUNCED")

    with django_capture_on_commit_callbacks(execute=True):
        loop.deliver()

    assert _ended(enrolment) == ("exited", "bounced")
    assert consent_states(leads=[lead])[lead.pk]["email"] == "withdrawn"
    later = approved_action(
        "send_email",
        {"to": lead.email, "subject": "Hi", "body": "Hi", "cc": []},
        lead=lead,
        idempotency_key="later",
    )
    outbox_run()
    later.refresh_from_db()
    assert later.status == "cancelled" and loop.steps_sent(lead) == 1


def test_a_one_click_unsubscribe_withdraws_consent_and_the_next_queued_message_is_refused(loop):
    lead, _, enrolment = loop.enrolled_lead("stop@northwind.example")
    queued = approved_action(
        "send_email",
        {"to": lead.email, "subject": "Hi", "body": "Hi", "cc": []},
        lead=lead,
        idempotency_key="queued",
    )

    answer = Client().post(
        urlsplit(unsubscribe_url(lead_id=lead.pk)).path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    outbox_run()

    assert answer.status_code == 200
    lead.refresh_from_db()
    queued.refresh_from_db()
    assert lead.consent_state == ConsentState.OPTED_OUT
    assert queued.status == "cancelled" and loop.steps_sent(lead) == 1
    assert _ended(enrolment) == ("exited", "opted_out")


# Meetings, deals, outcomes ---------------------------------------------------------------------------
def test_a_meeting_and_a_won_deal_reach_the_kpis_and_the_next_training_run(loop):
    lead, contact, _ = loop.enrolled_lead("won@northwind.example")
    start = NOW - timedelta(days=1)
    assert meeting_conversion(start) == {NOW.date(): (0, 1)}

    loop.create(
        "emails",
        {"hs_timestamp": hs_datetime(datetime.now(UTC)), "hs_email_direction": "INCOMING_EMAIL"},
        contact,
        EMAIL_TO_CONTACT,
    )
    loop.create("meetings", {"hs_timestamp": hs_datetime(datetime.now(UTC))}, contact, MEETING_TO_CONTACT)
    deal = loop.create(
        "deals", {"dealname": "Northwind", "dealstage": "contractsent"}, contact, DEAL_TO_CONTACT
    )
    loop.deliver()
    closed = datetime.now(UTC).replace(microsecond=0)
    loop.update("deals", deal, dealstage="closedwon", amount="36000", closedate=hs_datetime(closed))
    loop.deliver()

    assert reply_rate(start) == {NOW.date(): (1, 1)}
    assert meeting_conversion(start) == {NOW.date(): (1, 1)}  # booked after the reply ended the cadence
    lead.refresh_from_db()
    assert (lead.outcome, lead.outcome_at, lead.deal_value) == ("converted", closed, Decimal("36000"))
    demo = FeatureSet.objects.get(name="demo-b2b")
    feature_set = FeatureSet.objects.create(
        name="hubspot-leads", lead_source="hubspot", features=demo.features
    )
    rows = lead_rows(
        training_leads(feature_set), parse_spec(feature_set.features), as_of=None, at_outcome=True
    )
    assert list(zip(rows.ids, rows.outcomes, strict=True)) == [(lead.pk, "converted")]
    # Repeated deliveries wrote every event once.
    kinds = sorted(LeadEvent.objects.filter(lead=lead).values_list("kind", flat=True))
    assert kinds == ["deal_stage", "deal_stage", "deal_won", "email_reply", "meeting_booked"]


def test_a_salesforce_opportunity_won_sets_the_converted_leads_deal_value(serve_sandbox):
    salesforce = SalesforceSandbox()
    serve_sandbox(salesforce)
    connection = make_connection("salesforce", base_url=salesforce.base_url)
    api = "/services/data/v59.0"
    created = call(salesforce, "POST", f"{api}/sobjects/Lead", {"LastName": "Hopper", "Company": "Navy"})
    lead_id = json.loads(created.body)["id"]
    converted = salesforce.convert_lead(lead_id)
    opportunity = converted["ConvertedOpportunityId"]
    call(
        salesforce,
        "PATCH",
        f"{api}/sobjects/Opportunity/{opportunity}",
        {"StageName": "Closed Won", "Amount": 52000},
    )

    for kind in ("lead", "deal"):
        sync_run(connection=connection, kind=kind)

    lead = Lead.objects.get(salesforce_id=lead_id)
    assert (lead.outcome, lead.deal_value) == ("converted", Decimal("52000"))
    assert lead.outcome_at is not None and lead.outcome_at.date().isoformat() == converted["ConvertedDate"]
    assert LeadEvent.objects.filter(lead=lead, kind="deal_won").exists()


# Accounts --------------------------------------------------------------------------------------------
def test_an_account_change_in_the_crm_reaches_the_account_value_condition(loop):
    contact = loop.create("contacts", {"email": "cfo@acme.example"})
    company = loop.create("companies", {"name": "Acme"})
    call(loop.hubspot, "PUT", f"/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}")
    loop.deliver()
    lead = Lead.objects.get(hubspot_id=contact)

    loop.hubspot.calculate("companies", company, total_revenue="250000")  # a deal closed won
    loop.deliver()

    action = ProposedActionFactory(lead=lead)
    assert policy_facts([action])[action.pk]["account_value"] == Decimal("250000")
