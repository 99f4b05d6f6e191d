"""A lead's outcome comes from the CRM by each connection's outcome mapping (admin data with history):
Salesforce's lead conversion and HubSpot's customer lifecycle stage arrive through webhooks and the
incremental sync as the outcome, its time and the deal value; the lead model learns from them.

Against the Salesforce and HubSpot sandboxes over HTTP; webhooks are what the sandboxes sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from approvals.models import ProposedAction
from audit.models import DecisionLogEntry
from connectors.inbound import inbound_process_pending
from connectors.models import ActionExecution, OutcomeMapping
from connectors.sandbox.hubspot import HubSpotSandbox
from connectors.sandbox.salesforce import SalesforceSandbox
from connectors.sync import sync_run
from sales.models import Lead
from scoring.features import parse_spec
from scoring.models import FeatureSet
from scoring.selectors import lead_rows, training_leads
from tests.connectors.inbound_support import call, make_connection, post_all, webhook_path
from tests.factories import LeadFactory, approved_action
from tests.outbox import outbox_run

pytestmark = pytest.mark.django_db

SF_API = "/services/data/v59.0"
DEAL_TEXT_FIELDS = (
    "deal_won_field",
    "deal_won_time_field",
    "deal_lost_field",
    "deal_lost_time_field",
    "deal_amount_field",
)


@pytest.fixture
def salesforce(serve_sandbox) -> SalesforceSandbox:
    app = SalesforceSandbox()
    serve_sandbox(app)
    return app


@pytest.fixture
def hubspot(serve_sandbox) -> HubSpotSandbox:
    app = HubSpotSandbox()
    serve_sandbox(app)
    return app


def _sf_lead(app: SalesforceSandbox, last_name: str = "Hopper") -> str:
    created = call(app, "POST", f"{SF_API}/sobjects/Lead", {"LastName": last_name, "Company": "Navy"})
    return str(json.loads(created.body)["id"])


def _sf_stamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def _hs_stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _hs_contact(app: HubSpotSandbox, email: str = "ada@example.com") -> str:
    created = call(app, "POST", "/crm/v3/objects/contacts", {"properties": {"email": email}})
    return str(json.loads(created.body)["id"])


def _hs_update(app: HubSpotSandbox, contact_id: str, **properties: str) -> None:
    call(app, "PATCH", f"/crm/v3/objects/contacts/{contact_id}", {"properties": properties})


# Defaults ----------------------------------------------------------------------------------------
def test_each_crm_vendor_has_a_default_mapping_seeded_as_data():
    defaults = {m.vendor: m for m in OutcomeMapping.objects.filter(connection=None)}

    assert set(defaults) == {"salesforce", "hubspot"}
    assert (defaults["salesforce"].converted_field, defaults["salesforce"].converted_values) == (
        "IsConverted",
        ["true"],
    )
    assert defaults["salesforce"].lost_values == ["Closed - Not Converted"]
    assert (defaults["hubspot"].converted_field, defaults["hubspot"].converted_values) == (
        "lifecyclestage",
        ["customer"],
    )
    assert defaults["hubspot"].deal_value_field == "recent_deal_amount"


# Salesforce --------------------------------------------------------------------------------------
def test_a_lead_converted_in_salesforce_is_synced_as_converted_at_its_conversion(salesforce):
    connection = make_connection("salesforce", base_url=salesforce.base_url)
    lead_id = _sf_lead(salesforce)
    sync_run(connection=connection, kind="lead")
    assert Lead.objects.get(salesforce_id=lead_id).outcome == "unknown"
    converted = salesforce.convert_lead(lead_id)

    sync_run(connection=connection, kind="lead")

    lead = Lead.objects.get(salesforce_id=lead_id)
    assert lead.outcome == "converted"
    # ConvertedDate is a date; the conversion is the change stamped that day, so its time is used.
    assert converted["ConvertedDate"] == lead.outcome_at.date().isoformat()
    assert lead.outcome_at == _sf_stamp(converted["SystemModstamp"])
    entry = DecisionLogEntry.objects.get(subject_type="lead", subject_id=lead.pk)
    assert entry.action_taken["oversight_fields"]["outcome"] == {"from": "unknown", "to": "converted"}
    assert entry.actor == f"connector:{connection.name}"


def test_a_salesforce_conversion_arriving_by_outbound_message_sets_the_outcome(
    salesforce, webhook_inbox, serve_sandbox
):
    connection = make_connection("salesforce", base_url=salesforce.base_url)
    salesforce.webhooks.configure(url=f"{webhook_inbox.url}/hooks")
    lead_id = _sf_lead(salesforce)
    salesforce.convert_lead(lead_id)
    assert salesforce.webhooks.drain()

    statuses = post_all(Client(), webhook_path(connection), webhook_inbox.app.deliveries())
    inbound_process_pending(connection_id=connection.pk)

    assert statuses == [200, 200]  # the creation, then the conversion
    lead = Lead.objects.get(salesforce_id=lead_id)
    assert (lead.outcome, lead.status) == ("converted", "converted")
    assert lead.outcome_at is not None


def test_a_lead_closed_not_converted_is_lost(salesforce):
    connection = make_connection("salesforce", base_url=salesforce.base_url)
    lead_id = _sf_lead(salesforce)
    call(salesforce, "PATCH", f"{SF_API}/sobjects/Lead/{lead_id}", {"Status": "Closed - Not Converted"})

    sync_run(connection=connection, kind="lead")

    lead = Lead.objects.get(salesforce_id=lead_id)
    assert lead.outcome == "not_converted"
    assert lead.outcome_at == lead.source_modified_at  # no time field mapped for lost: the change's time


def test_a_lead_neither_converted_nor_lost_keeps_an_unknown_outcome(salesforce):
    connection = make_connection("salesforce", base_url=salesforce.base_url)
    lead_id = _sf_lead(salesforce)

    sync_run(connection=connection, kind="lead")

    lead = Lead.objects.get(salesforce_id=lead_id)
    assert (lead.outcome, lead.outcome_at) == ("unknown", None)


def test_a_converted_lead_read_again_keeps_the_time_it_first_converted(salesforce):
    connection = make_connection("salesforce", base_url=salesforce.base_url)
    lead_id = _sf_lead(salesforce)
    salesforce.convert_lead(lead_id)
    sync_run(connection=connection, kind="lead")
    first = Lead.objects.get(salesforce_id=lead_id).outcome_at
    later = datetime(2030, 1, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    salesforce.tables["Lead"][lead_id].update(SystemModstamp=later, ConvertedDate="2030-01-01")

    sync_run(connection=connection, kind="lead")

    lead = Lead.objects.get(salesforce_id=lead_id)
    assert lead.source_modified_at == datetime(2030, 1, 1, tzinfo=UTC)  # the record was applied
    assert (lead.outcome, lead.outcome_at) == ("converted", first)


# HubSpot -----------------------------------------------------------------------------------------
def test_a_hubspot_contact_becoming_a_customer_is_converted_with_its_date_and_deal_value(
    settings, hubspot, webhook_inbox
):
    settings.AGENTOPS_BASE_URL = webhook_inbox.url  # the address HubSpot signs for
    connection = make_connection("hubspot", base_url=hubspot.base_url)
    hubspot.webhooks.configure(url=f"{webhook_inbox.url}{webhook_path(connection)}")
    contact_id = _hs_contact(hubspot)
    _hs_update(hubspot, contact_id, lifecyclestage="customer", recent_deal_amount="12500.50")
    assert hubspot.webhooks.drain()

    statuses = post_all(Client(), webhook_path(connection), webhook_inbox.app.deliveries())
    inbound_process_pending(connection_id=connection.pk)

    assert set(statuses) == {200}
    lead = Lead.objects.get(hubspot_id=contact_id)
    became_customer = hubspot.tables["contacts"][contact_id]["properties"]["hs_lifecyclestage_customer_date"]
    assert (lead.outcome, lead.outcome_at) == ("converted", _hs_stamp(became_customer))
    assert lead.deal_value == Decimal("12500.50")


def test_a_value_mapped_as_lost_in_the_admin_makes_the_lead_lost(admin_client, hubspot):
    connection = make_connection("hubspot", base_url=hubspot.base_url)
    mapping = OutcomeMapping.objects.get(vendor="hubspot", connection=None)
    answer = admin_client.post(
        f"/admin/connectors/outcomemapping/{mapping.pk}/change/",
        {
            "vendor": "hubspot",
            "connection": "",
            "notes": mapping.notes,
            "converted_field": "lifecyclestage",
            "converted_values": '["customer"]',
            "converted_time_field": "hs_lifecyclestage_customer_date",
            "lost_field": "hs_lead_status",
            "lost_values": '["UNQUALIFIED"]',
            "lost_time_field": "",
            "deal_value_field": "recent_deal_amount",
            # The deal rules, as the form shows them (unchanged).
            **{name: getattr(mapping, name) for name in DEAL_TEXT_FIELDS},
            **{name: json.dumps(getattr(mapping, name)) for name in ("deal_won_values", "deal_lost_values")},
        },
    )
    assert answer.status_code == 302, answer.content
    contact_id = _hs_contact(hubspot)
    _hs_update(hubspot, contact_id, hs_lead_status="UNQUALIFIED")

    sync_run(connection=connection, kind="lead")

    lead = Lead.objects.get(hubspot_id=contact_id)
    assert (lead.outcome, lead.status) == ("not_converted", "disqualified")
    assert lead.outcome_at == lead.source_modified_at
    mapping.refresh_from_db()
    change = mapping.history.get()  # the admin's change, with who made it and when
    assert (change.history_user.is_superuser, change.lost_field, change.lost_values) == (
        True,
        "hs_lead_status",
        ["UNQUALIFIED"],
    )


def test_a_connection_of_its_own_mapping_replaces_the_vendor_default(hubspot):
    connection = make_connection("hubspot", base_url=hubspot.base_url)
    OutcomeMapping.objects.create(
        vendor="hubspot",
        connection=connection,
        converted_field="hs_lead_status",
        converted_values=["OPEN_DEAL"],
    )
    customer, open_deal = _hs_contact(hubspot, "a@example.com"), _hs_contact(hubspot, "b@example.com")
    _hs_update(hubspot, customer, lifecyclestage="customer")
    _hs_update(hubspot, open_deal, hs_lead_status="OPEN_DEAL")

    sync_run(connection=connection, kind="lead")

    outcomes = dict(Lead.objects.values_list("hubspot_id", "outcome"))
    assert outcomes == {customer: "unknown", open_deal: "converted"}


def test_a_mapping_refuses_values_without_their_field_and_a_connection_of_another_vendor():
    salesforce = make_connection("salesforce")
    mapping = OutcomeMapping(
        vendor="hubspot", connection=salesforce, lost_values=["x"], converted_values="customer"
    )

    with pytest.raises(Exception) as refused:
        mapping.full_clean(validate_unique=False, validate_constraints=False)

    errors = refused.value.message_dict  # type: ignore[attr-defined]
    assert set(errors) == {"connection", "converted_values", "lost_values"}
    assert "both the lost field and its values" in errors["lost_values"][0]


# The label the lead model learns from ----------------------------------------------------------------
def test_a_lead_converted_in_the_crm_is_a_positive_training_label(salesforce):
    connection = make_connection("salesforce", base_url=salesforce.base_url)
    converted, waiting = _sf_lead(salesforce, "Hopper"), _sf_lead(salesforce, "Lovelace")
    salesforce.convert_lead(converted)
    sync_run(connection=connection, kind="lead")
    demo = FeatureSet.objects.get(name="demo-b2b")
    feature_set = FeatureSet.objects.create(
        name="salesforce-leads", lead_source="salesforce", features=demo.features
    )

    # What train_lead_model reads: the leads with a known outcome, and the label of each.
    leads = training_leads(feature_set)
    rows = lead_rows(leads, parse_spec(feature_set.features), as_of=None, at_outcome=True)
    labels = dict(zip(rows.ids, (outcome == "converted" for outcome in rows.outcomes), strict=True))

    ours = Lead.objects.get(salesforce_id=converted)
    assert labels == {ours.pk: True}
    assert Lead.objects.get(salesforce_id=waiting).outcome == "unknown"  # not a training row


# Never from an agent -------------------------------------------------------------------------------
def test_an_agent_cannot_propose_a_lead_outcome(lead_for_agent):
    agent, lead = lead_for_agent
    proposal = {
        "kind": "update_crm_fields",
        "lead": lead.pk,
        "payload": {"fields": {"Status": "Working - Contacted"}},
        "rationale": "Closed it on the call.",
        "confidence": 0.9,
        "idempotency_key": "agent:outcome",
    }

    as_a_field = agent.post("/api/v1/actions/", {**proposal, "outcome": "converted"}, format="json")
    in_the_payload = agent.post(
        "/api/v1/actions/",
        {**proposal, "payload": {**proposal["payload"], "outcome": "converted"}},
        format="json",
    )

    assert (as_a_field.status_code, as_a_field.json()["field"]) == (400, "outcome")
    assert (in_the_payload.status_code, in_the_payload.json()["field"]) == (400, "payload.outcome")
    lead.refresh_from_db()
    assert (lead.outcome, lead.outcome_at) == ("unknown", None)
    # (The bulk API's refusal of outcome and outcome_at: tests/redteam/test_leads_and_consent.py.)


@pytest.mark.parametrize(
    ("fields", "refused"),
    [
        ({"lifecyclestage": "customer"}, "lifecyclestage"),  # HubSpot's default mapping reads it
        ({"jobtitle": "CTO", "LifecycleStage": "customer"}, "LifecycleStage"),  # any case
        ({"IsConverted": True}, "IsConverted"),  # Salesforce's
        ({"Status": "Closed - Not Converted"}, "Status"),  # Salesforce's lost
        ({"hs_lifecyclestage_customer_date": "2026-12-01"}, "hs_lifecyclestage_customer_date"),
        ({"recent_deal_amount": "90000"}, "recent_deal_amount"),  # the deal value's field
        ({"outcome": "converted"}, "outcome"),  # our own label's name
    ],
)
def test_an_agent_cannot_write_a_field_a_leads_outcome_is_read_from(lead_for_agent, fields, refused):
    """Before, ``update_crm_fields`` {"lifecyclestage": "customer"} was accepted (201): once a person
    approved a routine-looking field update, the sync brought the conversion back as the label."""
    agent, lead = lead_for_agent
    answer = agent.post(
        "/api/v1/actions/",
        {
            "kind": "update_crm_fields", "lead": lead.pk, "payload": {"fields": fields},
            "rationale": "Closed it on the call.", "confidence": 0.9, "idempotency_key": f"agent:{refused}",
        },
        format="json",
    )  # fmt: skip

    assert answer.status_code == 400, answer.content
    assert (answer.json()["code"], answer.json()["field"]) == ("outcome_field", f"payload.fields.{refused}")
    assert "only the CRM's own records" in answer.json()["detail"]
    assert not ProposedAction.objects.filter(idempotency_key=f"agent:{refused}").exists()


def test_an_approver_edit_adding_an_outcome_field_is_cancelled_before_it_goes_out():
    lead = LeadFactory(hubspot_id="7")
    action = approved_action("update_crm_fields", {"fields": {"lifecyclestage": "customer"}}, lead=lead)

    outbox_run()

    action.refresh_from_db()
    assert action.status == "cancelled"
    assert "payload.fields.lifecyclestage" in ActionExecution.objects.get(action=action).last_error


def test_ordinary_crm_work_on_the_same_fields_is_not_refused(lead_for_agent):
    # Moving a contact along its lifecycle is an SDR's daily work; only "customer" says converted.
    agent, lead = lead_for_agent
    fields = {"jobtitle": "CTO", "lifecyclestage": "salesqualifiedlead", "Status": "Working - Contacted"}
    answer = agent.post(
        "/api/v1/actions/",
        {
            "kind": "update_crm_fields", "lead": lead.pk, "payload": {"fields": fields},
            "rationale": "Title changed.", "confidence": 0.9, "idempotency_key": "agent:title",
        },
        format="json",
    )  # fmt: skip
    assert answer.status_code == 201, answer.content


@pytest.fixture
def lead_for_agent():
    from rest_framework.test import APIClient

    from security.choices import Scope
    from security.services import apikey_create
    from tests.factories import LeadFactory, user_in_role

    user = user_in_role("Integration accounts", username="agent-bot")
    issued = apikey_create(
        user=user, name="agent key", scopes=[str(Scope.SUBMIT_ACTIONS), str(Scope.WRITE_LEADS)]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plain}")
    return client, LeadFactory()
