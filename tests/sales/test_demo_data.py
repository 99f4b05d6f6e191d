"""Unit tests for sales.demo_data.generate: deterministic, consistent rows that pass validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.upsert import validate_batch
from sales import demo_data
from sales.choices import LeadEventKind
from sales.lead_rows import LEAD_FIELDS
from support.ticket_rows import TICKET_FIELDS

ANCHOR = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TICKET_REQUIRED = ("source", "external_id", "body")


def small(seed: int = 7, anchor: datetime = ANCHOR) -> demo_data.DemoData:
    return demo_data.generate(anchor=anchor, accounts=30, leads=200, tickets=60, seed=seed)


@pytest.fixture(scope="module")
def data() -> demo_data.DemoData:
    return demo_data.generate(anchor=ANCHOR)  # the default sizes, as seed_demo uses them


def test_the_same_seed_and_anchor_give_identical_output():
    assert small(seed=11) == small(seed=11)


def test_a_different_seed_gives_different_output():
    first, second = small(seed=1), small(seed=2)
    assert first.leads != second.leads
    assert first.accounts != second.accounts
    assert first.tickets != second.tickets


def test_a_different_anchor_shifts_the_dates():
    later = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)
    assert (
        small(anchor=ANCHOR).leads[0]["source_modified_at"]
        != small(anchor=later).leads[0]["source_modified_at"]
    )


def test_generate_makes_the_requested_number_of_rows():
    result = small()
    assert (len(result.accounts), len(result.leads), len(result.tickets)) == (30, 200, 60)


def test_default_sizes(data):
    assert (len(data.accounts), len(data.leads), len(data.tickets)) == (150, 1500, 300)


def test_external_ids_are_unique_within_each_kind(data):
    for rows in (data.accounts, data.leads, data.tickets, data.events):
        ids = [row["external_id"] for row in rows]
        assert len(set(ids)) == len(ids)


def test_every_lead_row_passes_the_lead_batch_validation(data):
    rows, errors = validate_batch(data.leads, LEAD_FIELDS)
    assert errors == []
    assert len(rows) == len(data.leads)


def test_every_ticket_row_passes_the_ticket_batch_validation(data):
    rows, errors = validate_batch(data.tickets, TICKET_FIELDS, required=TICKET_REQUIRED)
    assert errors == []
    assert len(rows) == len(data.tickets)


def test_every_lead_belongs_to_an_existing_account(data):
    account_ids = {account["external_id"] for account in data.accounts}
    assert set(data.lead_accounts) == {lead["external_id"] for lead in data.leads}
    assert set(data.lead_accounts.values()) <= account_ids


def test_a_leads_company_and_country_are_those_of_its_account(data):
    accounts = {account["external_id"]: account for account in data.accounts}
    for lead in data.leads:
        account = accounts[data.lead_accounts[lead["external_id"]]]
        assert lead["company_name"] == account["name"]
        assert lead["country"] == account["country"]


def test_every_ticket_belongs_to_an_existing_account(data):
    account_ids = {account["external_id"] for account in data.accounts}
    assert set(data.ticket_accounts) == {ticket["external_id"] for ticket in data.tickets}
    assert set(data.ticket_accounts.values()) <= account_ids


def test_events_reference_existing_leads_and_have_unique_external_ids(data):
    lead_ids = {lead["external_id"] for lead in data.leads}
    assert data.events  # the data set does have engagement
    assert {event["lead_external_id"] for event in data.events} <= lead_ids
    event_ids = [event["external_id"] for event in data.events]
    assert len(set(event_ids)) == len(event_ids)


def test_event_kinds_are_known_and_events_happen_no_later_than_the_anchor(data):
    kinds = set(LeadEventKind.values)
    for event in data.events:
        assert event["kind"] in kinds
        assert event["occurred_at"] <= ANCHOR


def test_decided_leads_have_a_matching_status_and_outcome(data):
    for lead in data.leads:
        if lead["outcome"] == "converted":
            assert lead["status"] == "converted"
        elif lead["outcome"] == "not_converted":
            assert lead["status"] == "disqualified"
        else:
            assert lead["outcome"] == "unknown"
            assert lead["outcome_at"] is None
    assert {lead["outcome"] for lead in data.leads} == {"unknown", "converted", "not_converted"}
