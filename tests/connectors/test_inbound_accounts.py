"""Accounts from the CRMs: HubSpot companies and Salesforce Accounts become ``sales.Account`` rows like
leads do (natural key, the CRM's modification time, field ownership); a lead is linked to its account
by the CRM's association, a ticket by its requester's email; and an account's value reaches the
approval policy's ``account_value`` fact. Against the HubSpot and Salesforce sandboxes over HTTP:
webhooks are what the sandboxes sent, the sync reads through the official clients.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from approvals.models import ApprovalPolicy
from approvals.services.routing import action_route
from approvals.subjects import policy_facts
from audit.models import DecisionLogEntry
from connectors.inbound import inbound_process_pending
from connectors.models import FieldOwnership, InboundStatus, SyncConflict, WebhookEvent
from connectors.sandbox.hubspot import HubSpotSandbox
from connectors.sandbox.salesforce import SalesforceSandbox
from connectors.sync import sync_run
from sales.models import Account, Lead
from tests.connectors.inbound_support import call, make_connection, post_all, webhook_path
from tests.factories import ProposedActionFactory, TicketFactory

pytestmark = pytest.mark.django_db

SF_API = "/services/data/v59.0"


# HubSpot -----------------------------------------------------------------------------------------
@pytest.fixture
def hubspot(serve_sandbox) -> HubSpotSandbox:
    app = HubSpotSandbox()
    serve_sandbox(app)
    return app


@pytest.fixture
def hubspot_hooks(settings, hubspot, webhook_inbox):
    """A HubSpot connection whose sandbox sends its webhooks to the inbox (signed for its URL)."""
    settings.AGENTOPS_BASE_URL = webhook_inbox.url  # the address HubSpot signs for
    connection = make_connection("hubspot", base_url=hubspot.base_url)
    hubspot.webhooks.configure(url=f"{webhook_inbox.url}{webhook_path(connection)}")
    return connection


def _deliver(app, inbox, connection) -> list[int]:
    """Wait for what the sandbox sent, post it to our endpoint and apply it."""
    assert app.webhooks.drain()
    deliveries = inbox.app.deliveries()
    inbox.app.reset()
    statuses = post_all(Client(), webhook_path(connection), deliveries)
    inbound_process_pending(connection_id=connection.pk)
    return statuses


def _hs_create(app: HubSpotSandbox, object_type: str, **properties: str) -> str:
    created = call(app, "POST", f"/crm/v3/objects/{object_type}", {"properties": properties})
    return str(json.loads(created.body)["id"])


def _hs_update(app: HubSpotSandbox, object_type: str, record_id: str, **properties: str) -> None:
    time.sleep(0.002)  # distinct modification milliseconds
    call(app, "PATCH", f"/crm/v3/objects/{object_type}/{record_id}", {"properties": properties})


def _hs_associate(app: HubSpotSandbox, contact_id: str, company_id: str) -> None:
    call(app, "PUT", f"/crm/v4/objects/contacts/{contact_id}/associations/default/companies/{company_id}")


def _hs_stamp(app: HubSpotSandbox, company_id: str) -> datetime:
    value = app.tables["companies"][company_id]["properties"]["hs_lastmodifieddate"]
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _account_value_fact(lead: Lead) -> Decimal | None:
    action = ProposedActionFactory(lead=lead)
    return policy_facts([action])[action.pk]["account_value"]


def test_a_hubspot_company_arrives_by_webhook_as_an_account(hubspot, webhook_inbox, hubspot_hooks):
    company_id = _hs_create(
        hubspot,
        "companies",
        name="Acme",
        domain="https://www.Acme.io/about",
        industry="Software",
        numberofemployees="120",
        annualrevenue="5000000",
        country="DE",
    )

    statuses = _deliver(hubspot, webhook_inbox, hubspot_hooks)

    assert set(statuses) == {200}
    account = Account.objects.get(source="hubspot", external_id=company_id)
    assert (account.name, account.domain, account.industry, account.employee_count, account.size_band) == (
        "Acme",
        "acme.io",
        "Software",
        120,
        "51-200",
    )
    assert (account.annual_revenue, account.country) == (Decimal("5000000"), "DE")
    assert account.source_modified_at == _hs_stamp(hubspot, company_id)
    batch = DecisionLogEntry.objects.get(event_type="accounts.upserted", subject_type="account_batch")
    assert batch.action_taken["created"] == 1


def test_a_contact_associated_with_a_company_is_linked_and_its_value_reaches_the_policy(
    hubspot, webhook_inbox, hubspot_hooks
):
    contact_id = _hs_create(hubspot, "contacts", email="ada@acme.io", firstname="Ada")
    company_id = _hs_create(hubspot, "companies", name="Acme")
    _hs_associate(hubspot, contact_id, company_id)
    _deliver(hubspot, webhook_inbox, hubspot_hooks)
    lead = Lead.objects.get(hubspot_id=contact_id)
    assert lead.account is not None and lead.account.external_id == company_id
    assert _account_value_fact(lead) == Decimal(0)

    # A deal closes won: HubSpot recalculates the company's revenue and says so by webhook.
    hubspot.calculate("companies", company_id, total_revenue="250000")
    _deliver(hubspot, webhook_inbox, hubspot_hooks)

    assert _account_value_fact(lead) == Decimal("250000")
    ApprovalPolicy.objects.create(
        name="Large customers need two people", outcome="two_approvals", account_value_at_least=100000
    )
    routed = action_route(action_id=ProposedActionFactory(lead=lead).pk)
    assert routed.required_approvals == 2
    assert routed.policy_reasons == ["Large customers need two people: account value 250,000 (≥ 100,000)"]
    change = DecisionLogEntry.objects.get(subject_type="account", subject_id=str(lead.account_id))
    assert change.action_taken == {"account_value": {"from": "0.00", "to": "250000.00"}}
    link = DecisionLogEntry.objects.get(event_type="accounts.linked", subject_type="lead")
    assert link.action_taken == {"account": {"from": None, "to": lead.account_id}}


def test_the_sync_brings_a_company_and_its_contacts_link_and_the_value_change(hubspot):
    connection = make_connection("hubspot", base_url=hubspot.base_url)
    contact_id = _hs_create(hubspot, "contacts", email="ada@acme.io")
    company_id = _hs_create(hubspot, "companies", name="Acme")
    _hs_associate(hubspot, contact_id, company_id)
    # The contacts first: the lead waits for its company, which links it when it arrives.
    sync_run(connection=connection, kind="lead")
    assert Lead.objects.get(hubspot_id=contact_id).account is None
    sync_run(connection=connection, kind="account")
    lead = Lead.objects.get(hubspot_id=contact_id)
    assert lead.account == Account.objects.get(source="hubspot", external_id=company_id)

    time.sleep(0.002)
    hubspot.calculate("companies", company_id, total_revenue="90000.50")
    summary = sync_run(connection=connection, kind="account")

    assert summary.processed == 1
    assert _account_value_fact(lead) == Decimal("90000.50")
    assert sync_run(connection=connection, kind="account").new_events == 0  # nothing new: nothing applied


def test_a_contact_moved_to_another_company_follows_it_and_one_removed_is_unlinked(
    hubspot, webhook_inbox, hubspot_hooks
):
    contact_id = _hs_create(hubspot, "contacts", email="ada@acme.io")
    first, second = (
        _hs_create(hubspot, "companies", name="Acme"),
        _hs_create(hubspot, "companies", name="Initech"),
    )
    _hs_associate(hubspot, contact_id, first)
    _deliver(hubspot, webhook_inbox, hubspot_hooks)

    call(hubspot, "DELETE", f"/crm/v4/objects/contacts/{contact_id}/associations/companies/{first}")
    _hs_associate(hubspot, contact_id, second)
    _deliver(hubspot, webhook_inbox, hubspot_hooks)
    assert Lead.objects.get(hubspot_id=contact_id).account.external_id == second

    call(hubspot, "DELETE", f"/crm/v4/objects/contacts/{contact_id}/associations/companies/{second}")
    _deliver(hubspot, webhook_inbox, hubspot_hooks)
    assert Lead.objects.get(hubspot_id=contact_id).account is None


def test_a_primary_company_written_on_the_contact_links_the_lead(hubspot, webhook_inbox, hubspot_hooks):
    company_id = _hs_create(hubspot, "companies", name="Acme")
    contact_id = _hs_create(hubspot, "contacts", email="ada@acme.io", associatedcompanyid=company_id)

    _deliver(hubspot, webhook_inbox, hubspot_hooks)

    assert Lead.objects.get(hubspot_id=contact_id).account.external_id == company_id
    assert hubspot.tables["contacts"][contact_id]["associations"]["companies"] == [company_id]


def test_repeated_and_shuffled_company_webhooks_leave_one_account_with_the_newest_values(
    hubspot, webhook_inbox, hubspot_hooks
):
    hubspot.webhooks.configure(
        url=hubspot.webhooks.url, duplicate_rate=1.0, shuffle=True, seed=7, batch_seconds=0.3
    )
    company_id = _hs_create(hubspot, "companies", name="Acme")
    for employees in ("10", "60", "600"):
        _hs_update(hubspot, "companies", company_id, numberofemployees=employees)

    statuses = _deliver(hubspot, webhook_inbox, hubspot_hooks)

    assert len(statuses) == 8 and set(statuses) == {200}  # four events, each delivered twice
    account = Account.objects.get(source="hubspot", external_id=company_id)
    assert (account.employee_count, account.size_band) == (600, "201-1000")
    assert WebhookEvent.objects.filter(deliveries=2).count() == 4  # each repeat stored once


def test_a_malformed_company_value_fails_its_event_naming_the_field_and_writes_nothing(hubspot):
    """A custom property mapped as the account value holds text a person typed: the event fails with
    the field named, and none of the record's other changes is half-applied."""
    connection = make_connection("hubspot", base_url=hubspot.base_url, account_value_field="contract_value")
    hubspot.custom_properties["companies"] = {"contract_value"}
    company_id = _hs_create(hubspot, "companies", name="Acme", contract_value="12000")
    sync_run(connection=connection, kind="account")
    _hs_update(hubspot, "companies", company_id, name="Acme Corp", contract_value="about 50k")

    summary = sync_run(connection=connection, kind="account")

    assert summary.failed == 1
    event = WebhookEvent.objects.get(status=InboundStatus.FAILED)
    assert event.error == "contract_value (account_value): 'about 50k' is not a number"
    account = Account.objects.get(source="hubspot", external_id=company_id)
    assert (account.name, account.account_value) == ("Acme", Decimal("12000"))


# Salesforce --------------------------------------------------------------------------------------
@pytest.fixture
def salesforce(serve_sandbox, webhook_inbox) -> SalesforceSandbox:
    app = SalesforceSandbox()
    serve_sandbox(app)
    app.webhooks.configure(url=f"{webhook_inbox.url}/hooks")
    return app


def _sf_create(app: SalesforceSandbox, sobject: str, **fields) -> str:
    time.sleep(0.002)  # distinct SystemModstamp milliseconds
    return str(json.loads(call(app, "POST", f"{SF_API}/sobjects/{sobject}", fields).body)["id"])


def _sf_update(app: SalesforceSandbox, sobject: str, record_id: str, **fields) -> None:
    time.sleep(0.002)
    call(app, "PATCH", f"{SF_API}/sobjects/{sobject}/{record_id}", fields)


def _captured(app, inbox) -> list[dict]:
    assert app.webhooks.drain()
    deliveries = inbox.app.deliveries()
    inbox.app.reset()
    return deliveries


def _post(connection, deliveries) -> list[int]:
    statuses = post_all(Client(), webhook_path(connection), deliveries)
    inbound_process_pending(connection_id=connection.pk)
    return statuses


def test_a_salesforce_account_arrives_by_outbound_message_and_an_older_one_is_stale(
    salesforce, webhook_inbox
):
    connection = make_connection("salesforce")
    account_id = _sf_create(
        salesforce,
        "Account",
        Name="Initech",
        Website="initech.com",
        NumberOfEmployees=40,
        BillingCountry="US",
    )
    created = _captured(salesforce, webhook_inbox)
    _sf_update(salesforce, "Account", account_id, NumberOfEmployees=4000)
    updated = _captured(salesforce, webhook_inbox)

    statuses = _post(connection, updated + created)  # the newer change first

    assert statuses == [200, 200]
    account = Account.objects.get(source="salesforce", external_id=account_id)
    assert (account.name, account.domain, account.employee_count, account.size_band, account.country) == (
        "Initech",
        "initech.com",
        4000,
        "1001+",
        "US",
    )
    outcomes = {e.payload["NumberOfEmployees"]: e.status for e in WebhookEvent.objects.all()}
    assert outcomes == {"40": InboundStatus.IGNORED_STALE, "4000": InboundStatus.PROCESSED}


def test_an_account_change_by_outbound_message_reaches_the_policy_fact_of_its_converted_lead(
    salesforce, webhook_inbox
):
    salesforce.add_custom_field("Account", "Annual_Contract_Value__c")
    connection = make_connection(
        "salesforce", base_url=salesforce.base_url, account_value_field="Annual_Contract_Value__c"
    )
    lead_id = _sf_create(salesforce, "Lead", LastName="Hopper", Company="Navy", Email="grace@navy.mil")
    converted = salesforce.convert_lead(lead_id)
    _post(connection, _captured(salesforce, webhook_inbox))
    sync_run(connection=connection, kind="account")  # the account convertLead created
    lead = Lead.objects.get(salesforce_id=lead_id)
    assert lead.account.external_id == converted["ConvertedAccountId"]

    _sf_update(salesforce, "Account", converted["ConvertedAccountId"], Annual_Contract_Value__c=180000)
    _post(connection, _captured(salesforce, webhook_inbox))

    assert _account_value_fact(lead) == Decimal("180000")


def test_a_salesforce_contact_links_the_lead_with_its_email_and_its_tickets(salesforce, webhook_inbox):
    connection = make_connection("salesforce")
    lead_id = _sf_create(
        salesforce, "Lead", LastName="Lovelace", Company="Analytical", Email="ada@analytical.io"
    )
    account_id = _sf_create(salesforce, "Account", Name="Analytical Engines")
    ticket = TicketFactory(requester_email="Ada@Analytical.io", account=None)
    _post(connection, _captured(salesforce, webhook_inbox))
    assert Lead.objects.get(salesforce_id=lead_id).account is None

    _sf_create(salesforce, "Contact", LastName="Lovelace", Email="ada@analytical.io", AccountId=account_id)
    _post(connection, _captured(salesforce, webhook_inbox))

    account = Account.objects.get(source="salesforce", external_id=account_id)
    assert Lead.objects.get(salesforce_id=lead_id).account == account
    ticket.refresh_from_db()
    assert ticket.account == account  # by the requester's email's blind index
    entry = DecisionLogEntry.objects.get(event_type="accounts.linked", subject_type="ticket")
    assert entry.action_taken == {"account": {"from": None, "to": account.pk}}


def test_an_account_with_a_malformed_field_fails_alone_naming_it(salesforce, webhook_inbox):
    connection = make_connection("salesforce")
    good = _sf_create(salesforce, "Account", Name="Good Co", NumberOfEmployees=12)
    bad = _sf_create(salesforce, "Account", Name="Bad Co")
    # What an outbound message could carry (a formula or an integration writing text).
    salesforce.tables["Account"][bad]["NumberOfEmployees"] = "many"
    salesforce._notify("Account", salesforce.tables["Account"][bad])
    deliveries = _captured(salesforce, webhook_inbox)

    statuses = _post(connection, deliveries)

    assert set(statuses) == {200}  # accepted: the vendor must not retry a record it will send again
    [failed] = [e for e in WebhookEvent.objects.all() if e.payload.get("NumberOfEmployees") == "many"]
    assert failed.status == InboundStatus.FAILED
    assert failed.error == "NumberOfEmployees (employee_count): 'many' is not a whole number"
    assert not Account.objects.filter(external_id=bad).exists()  # its creation is superseded by it
    assert Account.objects.get(external_id=good).employee_count == 12


def test_a_replayed_outbound_message_with_other_content_is_refused(salesforce, webhook_inbox):
    connection = make_connection("salesforce")
    _sf_create(salesforce, "Account", Name="Initech", Industry="Software")
    [delivery] = _captured(salesforce, webhook_inbox)
    assert _post(connection, [delivery, delivery]) == [200, 200]  # a redelivery: stored once

    forged = {**delivery, "body": delivery["body"].replace(b"Software", b"Banking")}
    assert _post(connection, [forged]) == [400]

    assert Account.objects.get().industry == "Software"
    assert WebhookEvent.objects.get().deliveries == 2


def test_an_account_field_agentops_owns_keeps_ours_and_logs_the_conflict(salesforce, webhook_inbox):
    connection = make_connection("salesforce")
    FieldOwnership.objects.create(record_kind="account", field_name="industry", owner="agentops")
    account_id = _sf_create(salesforce, "Account", Name="Initech", Industry="Software")
    _post(connection, _captured(salesforce, webhook_inbox))
    Account.objects.filter(external_id=account_id).update(industry="Fintech")

    _sf_update(salesforce, "Account", account_id, Industry="Banking", Name="Initech Ltd")
    _post(connection, _captured(salesforce, webhook_inbox))

    account = Account.objects.get(external_id=account_id)
    assert (account.name, account.industry) == ("Initech Ltd", "Fintech")
    conflict = SyncConflict.objects.get()
    assert (conflict.record_kind, conflict.field_name, conflict.ours, conflict.theirs, conflict.kept) == (
        "account",
        "industry",
        "Fintech",
        "Banking",
        "ours",
    )


def test_account_times_are_the_crms(salesforce, webhook_inbox):
    connection = make_connection("salesforce")
    account_id = _sf_create(salesforce, "Account", Name="Initech")
    _post(connection, _captured(salesforce, webhook_inbox))
    stamp = salesforce.tables["Account"][account_id]["SystemModstamp"]
    held = Account.objects.get(external_id=account_id).source_modified_at
    assert held == datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def test_a_ticket_from_a_linked_leads_email_arrives_linked_to_the_account(serve_sandbox, webhook_inbox):
    from connectors.sandbox.intercom import IntercomSandbox
    from support.models import Ticket
    from tests.factories import AccountFactory, LeadFactory

    account = AccountFactory()
    LeadFactory(email="bo@initech.com", account=account)
    LeadFactory(email="eve@twofold.com", account=AccountFactory())
    LeadFactory(email="eve@twofold.com", account=AccountFactory())  # known at two companies
    intercom = IntercomSandbox()
    serve_sandbox(intercom)
    connection = make_connection("intercom")
    intercom.webhooks.configure(url=f"{webhook_inbox.url}/hooks")
    for email in ("BO@initech.com", "eve@twofold.com", "stranger@example.com"):
        contact = intercom.add_contact(email=email, name="Someone")
        conversation = intercom.add_conversation(contact_id=contact["id"], body="Where is my invoice?")
        closed = {"message_type": "close", "admin_id": intercom.default_admin["id"]}
        call(intercom, "POST", f"/conversations/{conversation['id']}/parts", closed)  # notified

    assert set(_post(connection, _captured(intercom, webhook_inbox))) == {200}

    accounts = {t.requester_email: t.account for t in Ticket.objects.filter(source="intercom")}
    assert accounts == {"bo@initech.com": account, "eve@twofold.com": None, "stranger@example.com": None}


def test_crm_fields_mapped_as_account_attributes_reach_the_support_bots_account_lookup(hubspot):
    from support.selectors import account_lookup_read

    connection = make_connection(
        "hubspot",
        base_url=hubspot.base_url,
        account_attributes={"plan_tier": "plan", "billing": "billing_status"},
    )
    hubspot.custom_properties["companies"] = {"plan_tier", "billing"}
    company_id = _hs_create(hubspot, "companies", name="Acme", plan_tier="Enterprise", billing="overdue")

    sync_run(connection=connection, kind="account")

    account = Account.objects.get(source="hubspot", external_id=company_id)
    assert account_lookup_read(account_id=account.pk) == {
        "account_name": "Acme",
        "plan": "Enterprise",
        "billing_status": "overdue",
    }


def test_a_converted_leads_contact_synced_before_its_account_links_the_lead_when_the_account_comes(
    salesforce,
):
    connection = make_connection("salesforce", base_url=salesforce.base_url)
    lead_id = _sf_create(salesforce, "Lead", LastName="Hopper", Company="Navy", Email="grace@navy.mil")
    sync_run(connection=connection, kind="lead")
    converted = salesforce.convert_lead(lead_id)  # a Contact with the lead's email at a new Account

    sync_run(connection=connection, kind="contact")
    lead = Lead.objects.get(salesforce_id=lead_id)
    assert (
        lead.account is None and lead.attributes["salesforce_account_id"] == converted["ConvertedAccountId"]
    )
    sync_run(connection=connection, kind="account")

    lead.refresh_from_db()
    assert lead.account == Account.objects.get(
        source="salesforce", external_id=converted["ConvertedAccountId"]
    )
    links = DecisionLogEntry.objects.filter(event_type="accounts.linked", subject_type="lead")
    assert [e.input_context["by"] for e in links] == ["account_arrived"]


def test_applying_accounts_and_their_leads_costs_the_same_queries_for_2_or_12(salesforce, webhook_inbox):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    def queries_for(count: int, tag: str) -> int:
        connection = make_connection("salesforce", name=f"sf-{tag}")
        for n in range(count):
            account_id = _sf_create(salesforce, "Account", Name=f"{tag} {n}", NumberOfEmployees=n + 1)
            _sf_create(
                salesforce, "Contact", LastName="X", Email=f"{tag}{n}@example.com", AccountId=account_id
            )
            LeadFactory(source="salesforce", email=f"{tag}{n}@example.com")
        assert set(post_all(Client(), webhook_path(connection), _captured(salesforce, webhook_inbox))) == {
            200
        }
        with CaptureQueriesContext(db) as captured:
            summary = inbound_process_pending(connection_id=connection.pk)
        assert summary.processed == 2 * count
        return len(captured)

    from tests.factories import LeadFactory

    assert queries_for(2, "a") == queries_for(12, "b")
    assert Lead.objects.filter(account__isnull=False).count() == 14
