"""Unit tests for audit.redaction: personal values are hashed before they reach the decision log."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from audit.redaction import PERSONAL_KEYS, hash_value, redact_context, redaction_key

TOKEN = re.compile(r"^hmac:[0-9a-f]{16}$")
KEY = b"a-test-redaction-key-of-some-length"


# --- hash_value ---------------------------------------------------------------------------------


def test_hash_value_is_hmac_prefix_plus_16_hex_characters():
    assert TOKEN.match(hash_value("ana@example.com"))


def test_hash_value_is_the_truncated_keyed_hmac_sha256_of_the_normalised_value():
    expected = "hmac:" + hmac.new(KEY, b"ana@example.com", hashlib.sha256).hexdigest()[:16]
    assert hash_value("  Ana@Example.COM ", key=KEY) == expected


def test_hash_value_is_not_the_bare_sha256_a_dictionary_of_addresses_would_find():
    bare = hashlib.sha256(b"ana@example.com").hexdigest()[:16]
    assert bare not in hash_value("ana@example.com")
    assert bare not in hash_value("ana@example.com", key=KEY)


def test_hash_value_depends_on_the_key():
    assert hash_value("ana@example.com", key=KEY) != hash_value("ana@example.com", key=b"another key")


def test_the_configured_key_is_used_when_none_is_passed(settings):
    settings.AGENTOPS_AUDIT_REDACTION_KEY = KEY.decode()
    assert hash_value("ana@example.com") == hash_value("ana@example.com", key=KEY)
    assert redact_context({"email": "ana@example.com"}) == {"email": hash_value("ana@example.com", key=KEY)}


def test_without_a_configured_key_one_is_derived_from_the_secret_key_outside_production(settings):
    settings.AGENTOPS_AUDIT_REDACTION_KEY = ""
    first = hash_value("ana@example.com")
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789abcdef"
    assert hash_value("ana@example.com") != first


def test_production_refuses_to_redact_without_a_configured_key(settings):
    settings.AGENTOPS_AUDIT_REDACTION_KEY = ""
    settings.ENVIRONMENT = "production"
    with pytest.raises(ImproperlyConfigured, match="AGENTOPS_AUDIT_REDACTION_KEY"):
        redaction_key()


def test_hash_value_is_stable_across_calls():
    assert hash_value("Ana Almeida") == hash_value("Ana Almeida")


@pytest.mark.parametrize(
    "variant", ["ANA@EXAMPLE.COM", " ana@example.com", "ana@example.com\n", "\tAna@example.com  "]
)
def test_hash_value_ignores_case_and_surrounding_whitespace(variant):
    assert hash_value(variant) == hash_value("ana@example.com")


def test_hash_value_differs_for_different_values():
    assert hash_value("ana@example.com") != hash_value("ben@example.com")


def test_hash_value_does_not_contain_the_raw_value():
    assert "ana" not in hash_value("ana")


def test_hash_value_accepts_non_string_values():
    assert hash_value(4915112345678) == hash_value("4915112345678")


# --- redact_context -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(PERSONAL_KEYS))
def test_each_personal_key_is_replaced_by_its_hash(key):
    result = redact_context({key: "Secret Value"})
    assert result == {key: hash_value("Secret Value")}


def test_the_personal_keys_include_contact_and_requester_fields():
    assert {
        "email",
        "phone",
        "first_name",
        "last_name",
        "name",
        "requester_email",
        "requester_name",
        "notes",
    } <= PERSONAL_KEYS


def test_non_personal_keys_are_kept_as_they_are():
    context = {"lead_id": 42, "score": 0.87, "status": "qualified", "tags": ["a", "b"], "country": "DE"}
    assert redact_context(context) == context


def test_nested_dicts_are_redacted_recursively():
    # given personal values at two levels of nesting
    context = {
        "lead": {"email": "ana@example.com", "score": 0.9, "owner": {"name": "Ben Becker", "team": "emea"}},
        "ticket_id": 7,
    }
    # when redacted
    result = redact_context(context)
    # then they are hashed at every level and the rest is kept
    assert result == {
        "lead": {
            "email": hash_value("ana@example.com"),
            "score": 0.9,
            "owner": {"name": hash_value("Ben Becker"), "team": "emea"},
        },
        "ticket_id": 7,
    }


def test_a_personal_key_holding_a_dict_is_redacted_inside_not_replaced():
    result = redact_context({"name": {"first_name": "Ana", "source": "crm"}})
    assert result == {"name": {"first_name": hash_value("Ana"), "source": "crm"}}


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_personal_values_are_left_as_is(empty):
    assert redact_context({"email": empty, "phone": empty}) == {"email": empty, "phone": empty}


def test_the_input_is_not_mutated():
    context = {"email": "ana@example.com", "lead": {"phone": "+49 30 1234567", "score": 1}}
    before = copy.deepcopy(context)
    result = redact_context(context)
    assert context == before
    assert result is not context
    assert result["lead"] is not context["lead"]


def test_no_raw_personal_value_appears_anywhere_in_the_output():
    raw_values = {
        "email": "ana.almeida@example.com",
        "phone": "+351 912 345 678",
        "first_name": "Anabela",
        "last_name": "Almeida-Rossi",
        "requester_email": "hiro.ito@example.jp",
        "requester_name": "Hiro Ito",
        "notes": "called about the invoice dispute",
    }
    context = {
        **raw_values,
        "nested": {"deeper": {"name": "Chloé Dubois"}, "email": "chloe@example.fr"},
        "decision": "approve",
    }
    serialized = json.dumps(redact_context(context), ensure_ascii=False)
    for raw in [*raw_values.values(), "Chloé Dubois", "chloe@example.fr"]:
        assert raw not in serialized
        assert raw.lower() not in serialized.lower()
    assert "approve" in serialized


def test_an_empty_context_redacts_to_an_empty_dict():
    assert redact_context({}) == {}


def test_it_hashes_personal_values_inside_lists_and_whatever_the_key_case():
    context = {"contacts": [{"email": "a@b.com"}, {"Phone": "+1 555"}], "EMAIL": "c@d.com", "emails": "x"}
    redacted = redact_context(context)
    text = str(redacted)
    assert "a@b.com" not in text and "+1 555" not in text and "c@d.com" not in text
    assert redacted["contacts"][0]["email"] == hash_value("a@b.com")
    assert redacted["emails"] == "x"
