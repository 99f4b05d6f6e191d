"""The server-side risk floor of a proposal, per kind and payload (issue 17). Pure: no database."""

from __future__ import annotations

import pytest

from approvals.choices import ActionKind
from approvals.risk import MONEY_WORDS, money_words, risk_floor, risk_with_floor
from approvals.schemas import SCHEMAS

#: The floor of each kind on a payload without money words, and why.
KIND_FLOORS = [
    # Read only: nothing is written and nobody is contacted.
    ("account_lookup", {"email": "ada@example.com"}, "low"),
    ("flag_for_review", {"reason": "Looks like a competitor"}, "low"),
    # Writes to a system of record.
    ("assign_owner", {"queue": "Inbound SDR queue"}, "medium"),
    ("enrol_cadence", {"cadence": "Inbound hot"}, "medium"),
    ("add_to_nurture", {"track": "Mid-funnel nurture"}, "medium"),
    ("create_task", {"subject": "Call back"}, "medium"),
    ("update_crm_fields", {"fields": {"title": "CTO"}}, "medium"),
    ("set_ticket_status", {"status": "solved"}, "medium"),
    # Only our agents read them (issue 20): a note, and a handoff (a group change with a note).
    ("add_internal_note", {"body": "Customer called back."}, "low"),
    ("handoff_to_human", {"summary": "Wants to talk to a person"}, "low"),
    # Messages people receive.
    ("send_email", {"to": "ada@example.com", "subject": "Hi", "body": "Hello Ada"}, "medium"),
    ("send_sms", {"to": "+4930123456", "body": "Hello Ada"}, "medium"),
    ("post_public_reply", {"body": "Here is how to reset it."}, "medium"),
    # Controlled configuration.
    ("config_change", {"model": "sales.PlaybookRule", "after": {"x": 1}, "risk_note": "n"}, "high"),
]


def test_every_kind_has_a_floor_in_the_table():
    assert {kind for kind, _, _ in KIND_FLOORS} == set(SCHEMAS) == set(ActionKind.values)


@pytest.mark.parametrize(("kind", "payload", "floor"), KIND_FLOORS)
def test_each_kind_has_its_floor(kind, payload, floor):
    assert risk_floor(kind, payload) == floor


def test_an_unknown_kind_is_high_risk():
    assert risk_floor("delete_account", {}) == "high"


@pytest.mark.parametrize(
    "text",
    [
        "We will refund you.", "Refunded yesterday", "a 20% discount", "Discounts apply", "store credit",
        "credited to your account", "the price is", "our pricing", "Prices went up", "your invoice",
        "Invoices attached", "payment failed", "payments", "We can pay", "already paid", "a charge of",
        "chargeback", "it is free", "FREE upgrade", "we waive the fee", "waived", "a coupon",
        "a rebate", "a voucher", "compensation", "billing", "€50", "50 €", "$ 20", "£3", "¥100",
        "100 EUR", "20usd", "GBP 5", "1,000.00 CHF", "30% off", "cost", "fees",
    ],
)  # fmt: skip
def test_money_words_are_found_in_any_case(text):
    assert money_words(text), text


@pytest.mark.parametrize(
    "text", ["Hello Ada", "See you Tuesday", "freedom", "accredited", "a pricey look", "the payload"]
)
def test_ordinary_words_are_not_money_words(text):
    # Whole words only: "freedom" is not "free", "accredited" is not "credit".
    assert money_words(text) == []


def test_the_list_of_money_words_is_documented_data():
    assert "refund" in MONEY_WORDS and "invoice" in MONEY_WORDS


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("send_email", {"to": "ada@example.com", "subject": "Your refund", "body": "Hi"}),
        ("send_email", {"to": "ada@example.com", "subject": "Hi", "body": "That is €50."}),
        ("send_sms", {"to": "+4930123456", "body": "Free upgrade today"}),
        ("post_public_reply", {"body": "We waived the fee."}),
        ("update_crm_fields", {"fields": {"discount_pct": 20}}),
        ("update_crm_fields", {"fields": {"note": "price agreed: 100 EUR"}}),
        ("create_task", {"subject": "Call back", "description": "About the invoice"}),
        ("enrol_cadence", {"cadence": "Win-back with discount"}),
    ],
)
def test_money_words_in_any_text_raise_a_write_or_message_to_high(kind, payload):
    assert risk_floor(kind, payload) == "high"


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("add_internal_note", {"body": "Promised a credit."}),
        ("handoff_to_human", {"summary": "Customer asked: I want a refund of 50 EUR"}),
    ],
)
def test_money_words_do_not_raise_what_only_our_agents_read(kind, payload):
    # The customer sees neither: the reply that talks money is what needs a person.
    assert risk_floor(kind, payload) == "low"


def test_money_words_do_not_raise_a_read_only_kind():
    assert risk_floor("flag_for_review", {"reason": "Asked for a refund"}) == "low"


def test_addresses_are_not_read_for_money_words():
    payload = {"to": "invoice@example.com", "subject": "Hi", "body": "Hello", "cc": ["billing@example.com"]}
    assert risk_floor("send_email", payload) == "medium"


@pytest.mark.parametrize(
    ("declared", "floor", "stored"),
    [
        ("low", "medium", "medium"),
        ("medium", "medium", "medium"),
        ("high", "medium", "high"),
        ("critical", "high", "critical"),
        ("low", "high", "high"),
        ("low", "low", "low"),
        ("bogus", "low", "high"),  # an unknown declared level is not trusted either
    ],
)
def test_the_stored_risk_is_the_higher_of_the_declared_one_and_the_floor(declared, floor, stored):
    payloads = {"low": ("flag_for_review", {"reason": "r"}), "medium": ("create_task", {"subject": "s"}),
                "high": ("send_email", {"to": "a@b.co", "subject": "refund", "body": "b"})}  # fmt: skip
    kind, payload = payloads[floor]
    assert risk_with_floor(declared, kind, payload) == stored
