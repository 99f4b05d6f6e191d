"""Masking of personal data (pure functions: no database)."""

from __future__ import annotations

import pytest

from security.masking import (
    mask,
    mask_email,
    mask_mapping,
    mask_name,
    mask_phone,
    mask_text,
    may_view_personal_data,
    personal_mapping,
    personal_value,
)


class _User:
    def __init__(self, *perms: str) -> None:
        self.perms = set(perms)

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return perm in self.perms


ALLOWED = _User("security.view_personal_data")
DENIED = _User("sales.view_lead")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("john.smith@example.com", "j***@e***.com"),
        ("  John.Smith@Example.co.uk ", "J***@E***.uk"),
        ("a@b", "a***@b***"),
        ("x@localhost.", "x***@l***"),
        ("we+ird@@sub.example.org", "w***@s***.org"),  # the last @ splits
        ("", ""),
        ("not-an-address", "[hidden: 14 characters]"),
        ("@example.com", "[hidden: 12 characters]"),
        ("user@", "[hidden: 5 characters]"),
    ],
)
def test_it_masks_emails_to_first_letters_and_top_level_domain(value, masked):
    assert mask_email(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+44 20 7946 0123", "+44 *** *** 123"),
        ("+1-555-123-4567", "+1 *** *** 567"),
        ("+4930123456", "+49 *** *** 456"),  # no separator: the first two digits
        ("+353 (0)1 234 5678", "+353 *** *** 678"),
        ("020 7946 0123", "*** *** 123"),
        ("(555) 123-4567", "*** *** 567"),
        ("12345", "***"),  # too short to show any digit safely
        ("call me", "***"),
        ("", ""),
    ],
)
def test_it_masks_phones_to_country_code_and_last_three_digits(value, masked):
    assert mask_phone(value) == masked


def test_it_masks_names_to_initials_and_free_text_to_its_length():
    assert mask_name("Ana María  López") == "A*** M*** L***"
    assert mask_name("") == ""
    assert mask_text("My card was stolen") == "[hidden: 18 characters]"
    assert mask_text("") == ""


def test_it_keeps_none_and_masks_non_text_as_text_and_refuses_an_unknown_kind():
    assert mask(None, "email") is None
    assert mask(12345678, "phone") == "*** *** 678"
    with pytest.raises(ValueError, match="kind must be one of .*got 'ssn'"):
        mask("x", "ssn")  # type: ignore[arg-type]


def test_it_masks_personal_keys_through_nested_payloads_and_lists():
    payload = {
        "to": "grace@navy.mil",
        "subject": "Hello",
        "body": "Dear Grace, …",
        "fields": {"Email": "ada@example.com", "phone": "+44 20 7946 0123", "Title": "CTO"},
        "contacts": [{"first_name": "Ada", "last_name": "Lovelace"}],
        "names": ["x"],
        "requester_name": None,
    }
    assert mask_mapping(payload) == {
        "to": "g***@n***.mil",
        "subject": "Hello",
        "body": "Dear Grace, …",  # the message is what an approver judges; its recipient is hidden
        "fields": {"Email": "a***@e***.com", "phone": "+44 *** *** 123", "Title": "CTO"},
        "contacts": [{"first_name": "A***", "last_name": "L***"}],
        "names": ["x"],
        "requester_name": None,
    }
    assert payload["to"] == "grace@navy.mil"  # a copy: the original is untouched


def test_it_masks_an_sms_recipient_as_a_phone():
    assert mask_mapping({"to": "+4930123456", "body": "Hi"}) == {"to": "+49 *** *** 456", "body": "Hi"}


def test_it_shows_personal_data_in_clear_only_with_the_permission():
    assert may_view_personal_data(ALLOWED)
    assert not may_view_personal_data(DENIED)
    assert not may_view_personal_data(None)
    assert personal_value(ALLOWED, "ada@example.com", "email") == "ada@example.com"
    assert personal_value(DENIED, "ada@example.com", "email") == "a***@e***.com"
    assert personal_mapping(ALLOWED, {"email": "ada@example.com"}) == {"email": "ada@example.com"}
    assert personal_mapping(None, {"email": "ada@example.com"}) == {"email": "a***@e***.com"}


def test_the_template_tag_masks_unless_the_viewer_may_see():
    from types import SimpleNamespace

    from django.template import Context, Template

    template = Template(
        '{% load personal_data %}{% personal email "email" %}|{% personal phone "phone" %}'
        '|{{ email|personal_masked:"email" }}'
    )
    values = {"email": "ada@example.com", "phone": "+44 20 7946 0123"}

    def render(user: _User) -> str:
        return template.render(Context({**values, "request": SimpleNamespace(user=user)}))

    assert render(DENIED) == "a***@e***.com|+44 *** *** 123|a***@e***.com"
    assert render(ALLOWED) == "ada@example.com|+44 20 7946 0123|a***@e***.com"
