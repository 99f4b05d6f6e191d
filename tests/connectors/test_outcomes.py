"""The outcome a CRM record states under a mapping (pure): which rule matches, and when it happened."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.outcomes import CONVERTED, LOST, OutcomeRules, outcome_reading, outcome_time, outcome_writes

RULES = OutcomeRules(
    converted_field="IsConverted",
    converted_values=("true",),
    converted_time_field="ConvertedDate",
    lost_field="Status",
    lost_values=("Closed - Not Converted",),
    deal_value_field="Amount__c",
)
MODIFIED = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)


def test_it_reads_converted_case_blind_from_a_json_boolean_or_soap_text():
    for value in (True, "true", "TRUE"):
        reading = outcome_reading(RULES, {"IsConverted": value}, modified_at=MODIFIED)
        assert reading.outcome == CONVERTED


def test_a_record_matching_both_rules_is_converted():
    payload = {"IsConverted": "true", "Status": "Closed - Not Converted"}

    assert outcome_reading(RULES, payload, modified_at=MODIFIED).outcome == CONVERTED


def test_a_lost_value_is_lost_at_the_modification_time_when_no_time_field_is_mapped():
    reading = outcome_reading(RULES, {"Status": "Closed - Not Converted"}, modified_at=MODIFIED)

    assert (reading.outcome, reading.at) == (LOST, MODIFIED)


def test_a_record_saying_nothing_has_no_outcome_but_still_its_deal_value():
    reading = outcome_reading(RULES, {"IsConverted": False, "Amount__c": 900}, modified_at=MODIFIED)

    assert (reading.outcome, reading.at, reading.deal_value) == ("", None, "900")


def test_a_date_without_time_is_the_modification_time_that_day_else_the_start_of_the_day():
    assert outcome_time("2026-12-07", MODIFIED) == MODIFIED
    assert outcome_time("2026-12-01", MODIFIED) == datetime(2026, 12, 1, tzinfo=UTC)


def test_a_full_timestamp_is_taken_and_a_missing_or_unreadable_one_falls_back():
    assert outcome_time("2026-11-30T08:00:00.000Z", MODIFIED) == datetime(2026, 11, 30, 8, tzinfo=UTC)
    assert outcome_time(None, MODIFIED) == MODIFIED
    assert outcome_time("soon", MODIFIED) == MODIFIED


def test_the_fields_to_read_are_each_named_once():
    rules = OutcomeRules(
        converted_field="lifecyclestage", lost_field="lifecyclestage", lost_values=("other",)
    )

    assert rules.fields() == ["lifecyclestage"]


def test_a_write_is_listed_only_where_it_would_say_an_outcome_a_time_or_a_deal_value():
    rules = OutcomeRules(
        converted_field="lifecyclestage",
        converted_values=("customer",),
        converted_time_field="hs_lifecyclestage_customer_date",
        lost_field="hs_lead_status",
        lost_values=("UNQUALIFIED",),
        deal_value_field="recent_deal_amount",
    )
    assert outcome_writes(rules, {"LifecycleStage": " Customer ", "jobtitle": "CTO"}) == ["LifecycleStage"]
    assert outcome_writes(rules, {"hs_lead_status": "unqualified"}) == ["hs_lead_status"]
    assert outcome_writes(rules, {"recent_deal_amount": 1, "hs_lifecyclestage_customer_date": None}) == [
        "hs_lifecyclestage_customer_date",
        "recent_deal_amount",
    ]
    assert outcome_writes(rules, {"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "OPEN"}) == []
    assert outcome_writes(OutcomeRules(), {"lifecyclestage": "customer"}) == []
