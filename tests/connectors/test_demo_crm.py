"""The demo's CRM (connectors.demo_crm): its records reach the leads by the inbound path, once, and a
bad record fails alone while the records written together with it still apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.demo_crm import DEMO_CONNECTION, DemoCrm, demo_crm_sync
from connectors.models import WebhookEvent
from sales.models import Account, LeadEvent
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
IMPORTED = NOW - timedelta(days=20)


def _crm(events, deals=(), opt_outs=None) -> DemoCrm:
    return DemoCrm(
        accounts=[{"external_id": "demo-acc-1", "name": "Northwind", "account_value": 120000}],
        leads=[{"external_id": "demo-1", "hubspot_id": "demo-1", "source_modified_at": IMPORTED.isoformat()}],
        lead_accounts={"demo-1": "demo-acc-1"},
        events=events,
        deals=list(deals),
        opt_outs=opt_outs or {},
    )


def _event(external_id: str, kind: str, days: int) -> dict:
    return {
        "lead_external_id": "demo-1",
        "external_id": external_id,
        "kind": kind,
        "occurred_at": NOW - timedelta(days=days),
    }


def test_it_applies_the_records_once_by_the_inbound_path():
    lead = LeadFactory(external_id="demo-1", hubspot_id="demo-1", source_modified_at=IMPORTED)
    crm = _crm(
        [_event("e1", "email_open", 9), _event("e2", "email_reply", 8), _event("e3", "meeting_booked", 7)],
        deals=[{"lead_external_id": "demo-1", "external_id": "d1", "stage": "won", "amount": 36000,
                "created_at": NOW - timedelta(days=6), "closed_at": NOW - timedelta(days=2)}],
        opt_outs={"demo-1": NOW - timedelta(days=1)},
    )  # fmt: skip

    first = demo_crm_sync(crm=crm, now=NOW)
    second = demo_crm_sync(crm=crm, now=NOW)

    assert first.failed == 0 and first.processed == 6 and second.processed == 0
    lead.refresh_from_db()
    assert (lead.outcome, lead.outcome_at) == ("converted", NOW - timedelta(days=2))
    assert lead.account == Account.objects.get(source="hubspot", external_id="demo-acc-1")
    assert lead.account.account_value == 120000 and lead.consent_state == "opted_out"
    assert sorted(LeadEvent.objects.values_list("kind", flat=True)) == [
        "deal_stage", "deal_won", "email_open", "email_reply", "email_sent", "meeting_booked", "unsubscribed",
    ]  # fmt: skip
    assert set(WebhookEvent.objects.values_list("connection__name", "channel")) == {(DEMO_CONNECTION, "sync")}


def test_a_bad_record_among_those_written_together_fails_alone():
    LeadFactory(external_id="demo-1", hubspot_id="demo-1", source_modified_at=IMPORTED)
    too_long = "x" * 90  # its events' ids pass the 100 characters a lead event's id may have

    summary = demo_crm_sync(
        crm=_crm([_event("ok", "email_open", 9), _event(too_long, "email_click", 8)]), now=NOW
    )

    assert summary.failed == 1
    assert "external_id" in WebhookEvent.objects.get(entity_id=too_long).error
    assert sorted(LeadEvent.objects.values_list("external_id", flat=True)) == [
        "hubspot:email:ok:open",
        "hubspot:email:ok:sent",
    ]
