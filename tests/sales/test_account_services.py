"""account_bulk_upsert and the links between leads and accounts (sales.account_services)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from audit.models import DecisionLogEntry
from sales.account_services import account_bulk_upsert, leads_account_link
from sales.models import Account
from tests.factories import AccountFactory, LeadFactory

pytestmark = pytest.mark.django_db

T1, T2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)


def _row(**values):
    return {"source": "hubspot", "external_id": "7", "name": "Acme", **values}


def test_it_rejects_a_whole_batch_naming_each_bad_field_and_writes_nothing():
    outcome = account_bulk_upsert(
        rows=[_row(external_id="1"), _row(external_id="2", employee_count="lots", account_value="-5")],
        actor="test",
    )

    assert not outcome.ok and outcome.result is None
    assert {(e.index, e.field) for e in outcome.errors} == {(1, "employee_count"), (1, "account_value")}
    assert "'lots' is not a whole number" in {e.message for e in outcome.errors}
    assert not Account.objects.exists()


def test_an_older_change_is_stale_and_a_value_change_is_logged_on_the_account():
    account_bulk_upsert(rows=[_row(account_value="100", source_modified_at=T2)], actor="test")

    stale = account_bulk_upsert(rows=[_row(account_value="5", source_modified_at=T1)], actor="test")
    newer = account_bulk_upsert(rows=[_row(account_value="900", source_modified_at=T2)], actor="test")

    assert stale.result.statuses == ["stale"] and newer.result.statuses == ["updated"]
    account = Account.objects.get()
    assert account.account_value == Decimal("900")
    entry = DecisionLogEntry.objects.get(subject_type="account", subject_id=str(account.pk))
    assert entry.action_taken == {"account_value": {"from": "100.00", "to": "900.00"}}


def test_a_lead_waits_for_an_account_not_here_yet_and_is_linked_when_it_arrives():
    lead = LeadFactory()
    leads_account_link(source="hubspot", refs={lead.pk: "7"}, actor="test")
    lead.refresh_from_db()
    assert lead.account is None and lead.attributes["hubspot_account_id"] == "7"

    outcome = account_bulk_upsert(rows=[_row()], actor="test")

    lead.refresh_from_db()
    assert lead.account == Account.objects.get() and outcome.links.lead_ids == [lead.pk]


def test_a_crm_without_an_account_for_a_lead_leaves_a_link_made_elsewhere():
    by_hand = AccountFactory(source="demo")
    lead = LeadFactory(account=by_hand)

    leads_account_link(source="hubspot", refs={lead.pk: ""}, actor="test")
    leads_account_link(source="hubspot", refs={lead.pk: "not-here-yet"}, actor="test")

    lead.refresh_from_db()
    assert lead.account == by_hand
