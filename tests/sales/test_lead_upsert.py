"""Who may set a lead's oversight fields through ``lead_bulk_upsert``, and the log of every change.

The CRM sync is the one producer of owner, deal value, open opportunity and outcome; a staff import
is trusted too. Each change of one of them on a stored lead is logged (before, after, producer) in
the upsert's transaction, one statement for the batch. No producer raises a lead's consent.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import DecisionLogEntry
from sales.choices import LeadProducer
from sales.models import Lead
from sales.services import lead_bulk_upsert
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


def sync(rows, producer=LeadProducer.CRM_SYNC):
    return lead_bulk_upsert(rows=rows, actor="connector:hubspot", producer=producer, atomic=False)


def oversight_entries():
    return DecisionLogEntry.objects.filter(event_type="leads.upserted", subject_type="lead")


def test_it_logs_a_crm_sync_change_of_each_oversight_field_with_before_and_after():
    wes, sofia = UserFactory(username="wes"), UserFactory(username="sofia")
    lead = LeadFactory(source="hubspot", external_id="h-1", owner=wes, deal_value=Decimal("100"))

    outcome = sync(
        [
            {
                "source": "hubspot",
                "external_id": "h-1",
                "owner": "sofia",
                "deal_value": "250.50",
                "has_open_opportunity": True,
                "outcome": "converted",
                "outcome_at": "2026-11-20T10:00:00Z",
                "title": "CTO",
            }
        ]
    )

    assert outcome.ok and outcome.result.summary["updated"] == 1
    lead.refresh_from_db()
    assert (lead.owner, lead.deal_value, lead.outcome) == (sofia, Decimal("250.50"), "converted")
    [entry] = oversight_entries()
    assert (entry.subject_id, entry.actor) == (str(lead.pk), "connector:hubspot")
    assert entry.input_context["producer"] == "crm_sync"
    assert entry.action_taken["oversight_fields"] == {
        "owner": {"from": "wes", "to": "sofia"},
        "deal_value": {"from": "100.00", "to": "250.50"},
        "has_open_opportunity": {"from": False, "to": True},
        "outcome": {"from": "unknown", "to": "converted"},
        "outcome_at": {"from": None, "to": "2026-11-20T10:00:00+00:00"},
    }


def test_it_logs_nothing_for_a_new_lead_or_an_unchanged_one():
    row = {"source": "hubspot", "external_id": "h-1", "deal_value": "100", "title": "CTO"}
    sync([row])
    sync([row])
    sync([{**row, "title": "CEO"}])  # a change, but not to an oversight field

    assert not oversight_entries().exists()


def test_a_staff_import_may_set_them_and_is_logged_the_same_way():
    LeadFactory(source="bank-marketing", external_id="bm-1")

    outcome = sync(
        [{"source": "bank-marketing", "external_id": "bm-1", "outcome": "not_converted"}], LeadProducer.IMPORT
    )

    assert outcome.ok
    [entry] = oversight_entries()
    assert entry.input_context["producer"] == "import"
    assert entry.action_taken["oversight_fields"] == {"outcome": {"from": "unknown", "to": "not_converted"}}


def test_the_change_log_costs_the_same_queries_for_three_leads_or_thirty():
    UserFactory(username="wes")

    def batch(n, value):
        return [
            {"source": "hubspot", "external_id": f"h-{i}", "owner": "wes", "deal_value": value}
            for i in range(n)
        ]

    # (30 rows: one INSERT of leads and one of log entries even where SQLite caps parameters.)
    sync(batch(30, "1"))
    with CaptureQueriesContext(connection) as small:
        sync(batch(3, "2"))
    with CaptureQueriesContext(connection) as large:
        sync(batch(30, "3"))

    assert oversight_entries().count() == 3 + 30
    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.parametrize("producer", [LeadProducer.CRM_SYNC, LeadProducer.IMPORT])
@pytest.mark.parametrize(
    ("stored", "sent"), [("opted_out", "granted"), ("opted_out", "unknown"), ("unknown", "granted")]
)
def test_no_producer_raises_a_stored_leads_consent(producer, stored, sent):
    lead = LeadFactory(source="hubspot", external_id="h-1", consent_state=stored)

    outcome = sync(
        [{"source": "hubspot", "external_id": "h-1", "consent_state": sent, "title": "CTO"}], producer
    )

    assert [(e.field, e.index) for e in outcome.errors] == [("consent_state", 0)]
    assert "consent API with evidence" in outcome.errors[0].message
    lead.refresh_from_db()
    assert (lead.consent_state, lead.title) == (stored, "")
    assert not DecisionLogEntry.objects.exists()


def test_the_sync_may_lower_consent_and_the_change_is_logged():
    lead = LeadFactory(source="hubspot", external_id="h-1", consent_state="granted")

    assert sync([{"source": "hubspot", "external_id": "h-1", "consent_state": "unknown"}]).ok

    lead.refresh_from_db()
    assert lead.consent_state == "unknown"
    [entry] = oversight_entries()
    assert entry.action_taken["oversight_fields"] == {"consent_state": {"from": "granted", "to": "unknown"}}


def test_a_new_lead_may_arrive_with_its_initial_consent_from_a_trusted_producer():
    assert sync([{"source": "hubspot", "external_id": "h-1", "consent_state": "granted"}]).ok
    assert Lead.objects.get().consent_state == "granted"


def test_the_default_producer_is_the_least_trusted():
    outcome = lead_bulk_upsert(
        rows=[{"source": "hubspot", "external_id": "h-1", "deal_value": "5"}], actor="x"
    )

    assert [(e.field, e.message) for e in outcome.errors] == [("deal_value", "set by the CRM sync")]
    assert not Lead.objects.exists()
