"""The agent tries to move what oversight decides on through the lead mirror and the consent API.

Issue 17: the fields that drive oversight (owner, deal value, open opportunity, outcome, consent) are
not the agent's to write: the CRM sync sets the first four, the consent API (with evidence, by a
person) the last. A message may not reach anyone who withdrew consent, whichever recipient field
names them and whether or not the proposal names a lead. Every attempt fails closed: the refusal
names the field and the reason, and nothing is written.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from approvals.models import ProposedAction
from audit.models import DecisionLogEntry
from consent.models import ConsentRecord
from privacy.services import consent_withdraw
from sales.models import Lead
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

BULK = "/api/v1/leads/bulk/"
CONSENT = "/api/v1/consent/"


def snapshot(lead):
    lead.refresh_from_db()
    return (
        lead.owner_id,
        lead.deal_value,
        lead.has_open_opportunity,
        lead.outcome,
        lead.outcome_at,
        lead.consent_state,
        lead.status,
        lead.updated_at,
    )


def counts():
    return (
        Lead.objects.count(),
        ConsentRecord.objects.count(),
        ProposedAction.objects.count(),
        DecisionLogEntry.objects.count(),
    )


@pytest.fixture
def mirrored(db):
    """A lead the agent mirrors: its CRM owner, deal value and outcome are the CRM sync's."""
    return LeadFactory(
        source="hubspot",
        external_id="h-1",
        email="ada@northwind.example",
        owner=UserFactory(username="wes"),
        deal_value=Decimal("80000"),
        consent_state="granted",
    )


@pytest.fixture
def opted_out(db):
    """A lead who opted out of everything (a withdrawal of every channel in the registry)."""
    lead = LeadFactory(
        source="hubspot", external_id="h-2", email="bo@northwind.example", consent_state="granted"
    )
    consent_withdraw(lead_id=lead.pk, source="reply-unsubscribe", actor="sdr-agent:cadences")
    lead.refresh_from_db()
    assert lead.consent_state == "opted_out"
    return lead


# --- Oversight fields through the bulk upsert -------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("owner", "mallory", "set by the CRM sync"),
        ("owner", None, "set by the CRM sync"),
        ("deal_value", "1", "set by the CRM sync"),
        ("has_open_opportunity", False, "set by the CRM sync"),
        ("outcome", "converted", "set by the CRM sync"),
        ("outcome_at", "2026-11-01T10:00:00Z", "set by the CRM sync"),
        ("consent_state", "granted", "set through the consent API with evidence"),
        ("consent_state", "opted_out", "set through the consent API with evidence"),
    ],
)
def test_it_cannot_set_an_oversight_field_through_the_bulk_upsert(agent, mirrored, field, value, reason):
    UserFactory(username="mallory")
    before, rows = snapshot(mirrored), counts()

    response = agent.post(
        BULK, {"leads": [{"source": "hubspot", "external_id": "h-1", "title": "CEO", field: value}]}
    )

    assert response.status_code == 400, response.json()
    assert response.json()["errors"] == [
        {"index": 0, "external_id": "h-1", "field": field, "message": reason}
    ]
    assert "nothing was written" in response.json()["detail"]
    assert snapshot(mirrored) == before and counts() == rows
    assert mirrored.title == ""  # the harmless field of the same row was not written either


def test_one_row_with_an_oversight_field_refuses_the_whole_batch(agent, mirrored):
    before, rows = snapshot(mirrored), counts()
    batch = [
        {"source": "hubspot", "external_id": "new-1", "first_name": "Cy"},
        {"source": "hubspot", "external_id": "h-1", "deal_value": "1"},
        {"source": "hubspot", "external_id": "new-2", "first_name": "Di", "outcome": "not_converted"},
    ]

    response = agent.post(BULK, {"leads": batch})

    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (1, "deal_value"),
        (2, "outcome"),
    ]
    assert snapshot(mirrored) == before and counts() == rows


def test_the_fields_it_may_mirror_are_still_written(agent, mirrored):
    response = agent.post(BULK, {"leads": [{"source": "hubspot", "external_id": "h-1", "title": "CEO"}]})

    assert response.status_code == 200, response.json()
    mirrored.refresh_from_db()
    assert (mirrored.title, mirrored.deal_value, mirrored.owner.username) == ("CEO", Decimal("80000"), "wes")


# --- Lifting an opt-out -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"consent_state": "granted"}, "consent_state"),
        ({"consent_state": "unknown"}, "consent_state"),
        ({"opt_out": False}, "opt_out"),
        ({"attributes": {"consent_state": "granted"}, "consent_state": "granted"}, "consent_state"),
    ],
)
def test_it_cannot_lift_an_opt_out_through_the_bulk_upsert(agent, opted_out, row, field):
    before, rows = snapshot(opted_out), counts()

    response = agent.post(BULK, {"leads": [{"source": "hubspot", "external_id": "h-2", **row}]})

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert snapshot(opted_out) == before and counts() == rows


def test_a_status_or_email_change_leaves_the_opt_out_in_force(agent, opted_out):
    response = agent.post(
        BULK,
        {
            "leads": [
                {"source": "hubspot", "external_id": "h-2", "status": "new", "email": "bo2@northwind.example"}
            ]
        },
    )

    assert response.status_code == 200
    opted_out.refresh_from_db()
    assert opted_out.consent_state == "opted_out"
    state = agent.get(f"{CONSENT}?lead={opted_out.pk}").json()
    assert set(state["channels"].values()) == {"opted_out"}


def test_a_new_lead_with_an_opted_out_address_arrives_opted_out(agent, opted_out):
    response = agent.post(
        BULK, {"leads": [{"source": "salesforce", "external_id": "s-9", "email": "BO@northwind.example"}]}
    )

    assert response.status_code == 200
    assert Lead.objects.get(source="salesforce", external_id="s-9").consent_state == "opted_out"


@pytest.mark.parametrize("target", ["opted_out", "unknown"])
def test_it_cannot_grant_consent_through_the_consent_api(agent, opted_out, target):
    lead = opted_out if target == "opted_out" else LeadFactory(email="cy@northwind.example")
    before, rows = snapshot(lead), counts()

    response = agent.post(
        CONSENT,
        {
            "lead": lead.pk,
            "channel": "email",
            "status": "granted",
            "source": "form",
            "evidence": "form submission 4711 on 2026-11-20",
        },
    )

    assert response.status_code == 403, response.json()
    assert response.json()["field"] == "status"
    assert "not a grant" in response.json()["detail"]
    assert snapshot(lead) == before and counts() == rows


def test_it_may_still_record_a_withdrawal(agent, mirrored):
    response = agent.post(CONSENT, {"lead": mirrored.pk, "channel": "sms", "status": "withdrawn"})

    assert response.status_code == 201, response.json()
    assert response.json()["channels"]["sms"] == "withdrawn"


def test_a_person_lifts_an_opt_out_only_with_evidence(ops_admin, opted_out):
    client = APIClient()
    client.force_authenticate(ops_admin)
    body = {"lead": opted_out.pk, "channel": "email", "status": "granted", "source": "form"}
    before, rows = snapshot(opted_out), counts()

    refused = client.post(CONSENT, body, format="json")

    assert refused.status_code == 400
    assert refused.json()["field"] == "evidence"
    assert snapshot(opted_out) == before and counts() == rows

    granted = client.post(CONSENT, {**body, "evidence": "signed form 4711, 2026-11-20"}, format="json")

    assert granted.status_code == 201, granted.json()
    assert granted.json()["channels"]["email"] == "granted"
    assert granted.json()["history"][0]["evidence"] == "signed form 4711, 2026-11-20"


# --- Consent of every recipient ---------------------------------------------------------------


def withdraw_email(address):
    """The person behind ``address`` withdrew email only (no lead: a suppression by address)."""
    consent_withdraw(email=address, channels=["email"], source="form", actor="web")


def test_it_cannot_cc_someone_who_withdrew(agent):
    withdraw_email("eve@example.com")
    rows = counts()

    response = agent.propose(
        payload={
            "to": "ada@example.com",
            "cc": ["cy@example.com", "Eve@Example.com"],
            "subject": "Hello",
            "body": "Hi Ada",
        }
    )

    assert response.status_code == 400, response.json()
    assert (response.json()["code"], response.json()["field"]) == ("consent_withdrawn", "payload.cc[1]")
    assert "withdrew consent to email" in response.json()["detail"]
    assert counts() == rows


def test_it_cannot_cc_a_lead_who_opted_out(agent, opted_out, mirrored):
    rows = counts()

    response = agent.propose(
        lead=mirrored.pk,
        payload={"to": mirrored.email, "cc": [opted_out.email], "subject": "Hello", "body": "Hi Ada"},
    )

    assert response.status_code == 400, response.json()
    assert response.json()["field"] == "payload.cc[0]"
    assert counts() == rows


def test_it_cannot_bcc_anyone(agent):
    rows = counts()

    response = agent.propose(
        payload={"to": "ada@example.com", "bcc": ["eve@example.com"], "subject": "Hello", "body": "Hi"}
    )

    assert response.status_code == 400
    assert response.json()["field"] == "payload.bcc"
    assert counts() == rows


def test_without_a_lead_it_cannot_email_an_address_that_withdrew_email(agent):
    withdraw_email("eve@example.com")
    rows = counts()

    response = agent.propose(payload={"to": "eve@example.com", "subject": "Hello", "body": "Hi Eve"})

    assert response.status_code == 400, response.json()
    assert response.json()["field"] == "payload.to"
    assert counts() == rows


def test_it_cannot_message_a_lead_who_opted_out(agent, opted_out):
    rows = counts()

    response = agent.propose(
        lead=opted_out.pk, payload={"to": opted_out.email, "subject": "Hello", "body": "Hi"}
    )

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("consent_withdrawn", "lead")
    assert counts() == rows
