"""The compliance scanner: pricing, contract and regulatory language; unsubscribe basics."""

import re

import pytest

from sales.compliance import (
    MISSING_POSTAL_ADDRESS,
    MISSING_UNSUBSCRIBE,
    Pattern,
    compile_patterns,
    flags,
    scan,
)

PATTERNS = compile_patterns(
    [
        Pattern("pricing", r"\$\s?\d|\bprice|\bdiscount|\d+\s?%\s?off"),
        Pattern("contract", r"\bcontract|\bagreement|\bterms and conditions"),
        Pattern("regulatory", r"\bguarantee|risk[- ]free|\bGDPR\b"),
    ]
)
FOOTER = "\n\nUnsubscribe: https://example.test/u/1"


def flags_of(body, subject="Hello", channel="email", address=""):
    return flags(scan(subject=subject, body=body, channel=channel, patterns=PATTERNS, postal_address=address))


def test_clean_copy_with_an_unsubscribe_line_has_no_flags():
    assert flags_of("Hi Ada, would a short call next week help?" + FOOTER) == []


@pytest.mark.parametrize(
    ("body", "flag"),
    [
        ("Our price is $49 per seat.", "pricing"),
        ("Take 20% off this month.", "pricing"),
        ("I attached the contract for signature.", "contract"),
        ("We guarantee results.", "regulatory"),
        ("It is completely risk-free.", "regulatory"),
    ],
)
def test_it_flags_each_kind_of_language(body, flag):
    assert flags_of(body + FOOTER) == [flag]


def test_the_subject_is_scanned_too():
    assert flags_of("Hi" + FOOTER, subject="A special discount") == ["pricing"]


def test_an_email_without_unsubscribe_text_is_flagged():
    assert flags_of("Hi Ada") == [MISSING_UNSUBSCRIBE]


def test_an_sms_needs_reply_stop_wording():
    assert flags_of("Hi Ada", channel="sms") == [MISSING_UNSUBSCRIBE]
    assert flags_of("Hi Ada. Reply STOP to opt out.", channel="sms") == []


def test_a_task_is_not_a_message_and_needs_no_unsubscribe():
    assert flags_of("Call Ada about the demo", channel="phone_task") == []


def test_the_postal_address_is_required_when_configured():
    assert flags_of("Hi" + FOOTER, address="1 Main St, Springfield") == [MISSING_POSTAL_ADDRESS]
    assert flags_of("Hi\n1 Main St, Springfield" + FOOTER, address="1 Main St, Springfield") == []


def test_findings_carry_an_excerpt():
    (finding,) = scan(subject="", body="Our price is $49." + FOOTER, channel="email", patterns=PATTERNS)
    assert "$49" in finding.excerpt


def test_a_bad_pattern_names_its_flag():
    with pytest.raises(re.error, match="pricing"):
        compile_patterns([Pattern("pricing", "(unclosed")])
