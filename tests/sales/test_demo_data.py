"""Unit tests for sales.demo_data.generate: deterministic, consistent rows that pass validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.upsert import validate_batch
from sales import demo_data
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


def test_each_lead_has_an_address_of_its_own(data):
    # The consent registry suppresses an address: a shared one would opt out two leads at once.
    emails = [lead["email"] for lead in data.leads]
    assert len(set(emails)) == len(emails)


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


def test_events_are_what_a_crm_records_and_happen_no_later_than_the_anchor(data):
    # The demo CRM (connectors.demo_crm) can state each of them: nothing without a real producer.
    for event in data.events:
        assert event["kind"] in {"email_open", "email_click", "email_reply", "meeting_booked", "email_bounce"}
        assert event["occurred_at"] <= ANCHOR


def test_leads_carry_no_outcome_and_their_deals_decide_it(data):
    # The outcome is the CRM's (a won or lost deal, through the inbound path), never typed in a row.
    assert not any("outcome" in lead or "outcome_at" in lead for lead in data.leads)
    leads = {lead["external_id"]: lead for lead in data.leads}
    stages = {deal["lead_external_id"]: deal for deal in data.deals}
    assert len(stages) == len(data.deals)  # one deal per lead at most
    assert {deal["stage"] for deal in data.deals} == {"open", "won", "lost"}
    for external_id, deal in stages.items():
        status = leads[external_id]["status"]
        expected = {"won": "converted", "lost": "disqualified"}.get(deal["stage"])
        assert status == expected if expected else status in ("qualified", "nurturing")
        assert (deal["closed_at"] is None) == (deal["stage"] == "open")
        assert deal["closed_at"] is None or deal["created_at"] < deal["closed_at"] <= ANCHOR


def test_opted_out_leads_had_consented_and_opt_out_in_the_crm(data):
    assert data.opt_outs
    leads = {lead["external_id"]: lead for lead in data.leads}
    assert {leads[external_id]["consent_state"] for external_id in data.opt_outs} == {"granted"}
    assert all(at <= ANCHOR for at in data.opt_outs.values())


def test_ticket_requesters_are_leads_of_the_tickets_account(data):
    accounts_of = {}
    for lead in data.leads:
        accounts_of.setdefault(lead["email"], set()).add(data.lead_accounts[lead["external_id"]])
    for ticket in data.tickets:
        assert data.ticket_accounts[ticket["external_id"]] in accounts_of[ticket["requester_email"]]
