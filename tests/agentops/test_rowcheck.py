"""Unit tests for core.rowcheck: the field parsers and clean_row (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from core import rowcheck as rc
from core.rowcheck import FieldError, RowError

# --- text ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hello", "hello"),
        ("  pad  ", "pad"),
        ("", ""),
        (None, ""),
        (42, "42"),
        ("abcde", "abcde"),  # exactly max_length
    ],
)
def test_text_returns_the_stripped_string(raw, expected):
    assert rc.text(5)(raw) == expected


def test_text_checks_length_after_stripping_whitespace():
    # given a value whose padding would exceed the limit but whose content does not
    # when / then it is accepted
    assert rc.text(3)("   abc   ") == "abc"


def test_text_rejects_a_value_longer_than_max_length_and_names_the_limit_and_length():
    with pytest.raises(FieldError, match=r"longer than 5 characters \(6\)"):
        rc.text(5)("abcdef")


@pytest.mark.parametrize("raw", [1.5, ["a"], {"a": 1}, b"bytes", Decimal("1")])
def test_text_rejects_values_that_are_not_strings_or_integers(raw):
    with pytest.raises(FieldError, match="must be a string"):
        rc.text(100)(raw)


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_required_text_rejects_blank_values(raw):
    with pytest.raises(FieldError, match="is required and may not be blank"):
        rc.text(10, required=True)(raw)


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_optional_plain_text_accepts_blank_values_as_empty_string(raw):
    assert rc.text(10)(raw) == ""


# --- optional_text ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_optional_text_turns_blank_into_none(raw):
    assert rc.optional_text(18)(raw) is None


def test_optional_text_returns_the_stripped_value_when_present():
    assert rc.optional_text(18)(" 00Q5e000001AbCd ") == "00Q5e000001AbCd"


def test_optional_text_still_enforces_the_max_length():
    with pytest.raises(FieldError, match="longer than 3 characters"):
        rc.optional_text(3)("abcd")


# --- email --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ana@example.com", "ana@example.com"),
        ("  Ana.Almeida@Example.COM ", "ana.almeida@example.com"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
        ("", ""),
        (None, ""),
    ],
)
def test_email_normalises_valid_addresses_to_lower_case_and_allows_blank(raw, expected):
    assert rc.email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "not-an-email",
        "a@b",
        "@example.com",
        "ana@",
        "ana@@example.com",
        "ana smith@example.com",
        "ana@exa mple.com",
    ],
)
def test_email_rejects_malformed_addresses_quoting_the_value(raw):
    with pytest.raises(FieldError, match="is not a valid email address") as excinfo:
        rc.email(raw)
    assert raw.strip().lower() in str(excinfo.value)


def test_email_rejects_addresses_longer_than_254_characters():
    too_long = "a" * 250 + "@example.com"
    with pytest.raises(FieldError, match="longer than 254"):
        rc.email(too_long)


# --- choice -------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["new", "contacted"])
def test_choice_accepts_a_listed_value(raw):
    assert rc.choice(["new", "contacted"])(raw) == raw


@pytest.mark.parametrize("raw", ["NEW", " new", "closed", "", None, 1])
def test_choice_rejects_values_not_listed_exactly(raw):
    with pytest.raises(FieldError, match="is not one of"):
        rc.choice(["new", "contacted"])(raw)


def test_choice_error_lists_the_allowed_values_sorted():
    with pytest.raises(FieldError) as excinfo:
        rc.choice(["zulu", "alpha", "mike"])("x")
    assert str(excinfo.value) == "'x' is not one of: alpha, mike, zulu"


# --- boolean ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("0", False),
    ],
)
def test_boolean_parses_booleans_and_their_common_spellings(raw, expected):
    assert rc.boolean(raw) is expected


@pytest.mark.parametrize("raw", ["", "maybe", "y", "on", None, 2.0, [], {}])
def test_boolean_rejects_anything_else(raw):
    with pytest.raises(FieldError, match="must be true or false"):
        rc.boolean(raw)


# --- decimal ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.5", Decimal("12.50")),
        (12, Decimal("12.00")),
        (12.25, Decimal("12.25")),
        ("0.015", Decimal("0.02")),  # quantized to 2 places, half-even -> 0.02
        ("0.004", Decimal("0.00")),
        (Decimal("3.14159"), Decimal("3.14")),
        ("-7", Decimal("-7.00")),
    ],
)
def test_decimal_parses_and_quantizes_to_the_configured_places(raw, expected):
    result = rc.decimal()(raw)
    assert result == expected
    assert result.as_tuple().exponent == -2


def test_decimal_quantizes_to_a_custom_number_of_places():
    result = rc.decimal(places=0)("12.6")
    assert result == Decimal("13")
    assert result.as_tuple().exponent == 0


@pytest.mark.parametrize("raw", [None, ""])
def test_decimal_treats_blank_as_no_value(raw):
    assert rc.decimal()(raw) is None


@pytest.mark.parametrize("raw", [True, False])
def test_decimal_rejects_booleans_even_though_they_are_ints(raw):
    with pytest.raises(FieldError, match="must be a number"):
        rc.decimal()(raw)


@pytest.mark.parametrize("raw", ["abc", "1,5", "12.3.4", "--1"])
def test_decimal_rejects_text_that_is_not_a_number_quoting_it(raw):
    with pytest.raises(FieldError, match=rf"'{raw}' is not a number"):
        rc.decimal()(raw)


@pytest.mark.parametrize("raw", ["NaN", "sNaN", "Infinity", "-Infinity", float("nan"), float("inf")])
def test_decimal_rejects_non_finite_numbers(raw):
    with pytest.raises(FieldError, match="must be a finite number"):
        rc.decimal()(raw)


def test_decimal_rejects_values_below_min_value():
    with pytest.raises(FieldError, match="must be at least 0"):
        rc.decimal(min_value=Decimal(0))("-0.01")


def test_decimal_accepts_exactly_min_value():
    assert rc.decimal(min_value=Decimal(0))("0") == Decimal("0.00")


def test_decimal_accepts_a_value_with_exactly_max_digits():
    # 12 integer digits + 2 places = 14 digits
    assert rc.decimal(max_digits=14)("123456789012.34") == Decimal("123456789012.34")


@pytest.mark.parametrize("raw", ["1234567890123.4", "12345678901234", "99999999999999.99"])
def test_decimal_rejects_values_with_more_than_max_digits_after_quantizing(raw):
    with pytest.raises(FieldError, match="has more than 14 digits"):
        rc.decimal(max_digits=14)(raw)


@pytest.mark.parametrize("raw", ["1e30", "1E+40", 1e30])
def test_decimal_reports_huge_values_as_too_many_digits_instead_of_crashing(raw):
    # A value whose quantized form exceeds the decimal context precision must still be reported
    # as a field error a person can act on, not escape as decimal.InvalidOperation.
    with pytest.raises(FieldError):
        rc.decimal()(raw)


# --- number -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1.5", 1.5), (3, 3.0), ("-2", -2.0), (" 4 ", 4.0), (Decimal("2.25"), 2.25), ("1e3", 1000.0)],
)
def test_number_parses_to_float(raw, expected):
    result = rc.number()(raw)
    assert isinstance(result, float)
    assert result == expected


@pytest.mark.parametrize("raw", [None, ""])
def test_number_treats_blank_as_no_value(raw):
    assert rc.number()(raw) is None


@pytest.mark.parametrize("raw", [True, False])
def test_number_rejects_booleans(raw):
    with pytest.raises(FieldError, match="must be a number"):
        rc.number()(raw)


@pytest.mark.parametrize("raw", ["abc", [1], {"a": 1}])
def test_number_rejects_values_that_are_not_numbers(raw):
    with pytest.raises(FieldError, match="is not a number"):
        rc.number()(raw)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", float("nan"), float("inf"), "1e400"])
def test_number_rejects_non_finite_values(raw):
    with pytest.raises(FieldError, match="must be a finite number"):
        rc.number()(raw)


@pytest.mark.parametrize(("raw", "message"), [("-0.1", "must be at least 0"), ("1.01", "must be at most 1")])
def test_number_enforces_min_and_max(raw, message):
    with pytest.raises(FieldError, match=message):
        rc.number(min_value=0, max_value=1)(raw)


@pytest.mark.parametrize("raw", ["0", "1", "0.5"])
def test_number_accepts_the_bounds_inclusively(raw):
    assert rc.number(min_value=0, max_value=1)(raw) == float(raw)


# --- aware_datetime -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-31T09:00:00Z", datetime(2026, 1, 31, 9, 0, tzinfo=UTC)),
        ("2026-01-31T09:00:00+00:00", datetime(2026, 1, 31, 9, 0, tzinfo=UTC)),
        ("2026-01-31T10:30:00+01:00", datetime(2026, 1, 31, 9, 30, tzinfo=UTC)),
        ("2026-01-31T01:00:00-05:00", datetime(2026, 1, 31, 6, 0, tzinfo=UTC)),
        ("2026-01-01T00:30:00+02:00", datetime(2025, 12, 31, 22, 30, tzinfo=UTC)),  # day/year change
    ],
)
def test_aware_datetime_parses_iso_strings_and_converts_to_utc(raw, expected):
    result = rc.aware_datetime(raw)
    assert result == expected
    assert result.utcoffset() == timedelta(0)


def test_aware_datetime_converts_an_aware_datetime_object_to_utc():
    berlin_winter = timezone(timedelta(hours=1))
    result = rc.aware_datetime(datetime(2026, 3, 1, 12, 0, tzinfo=berlin_winter))
    assert result == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert result.hour == 11
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize("raw", [None, ""])
def test_aware_datetime_treats_blank_as_no_value(raw):
    assert rc.aware_datetime(raw) is None


@pytest.mark.parametrize("raw", ["2026-01-31T09:00:00", "2026-01-31", datetime(2026, 1, 31, 9, 0)])
def test_aware_datetime_rejects_naive_values_asking_for_an_offset(raw):
    with pytest.raises(FieldError, match="must include a time zone offset"):
        rc.aware_datetime(raw)


@pytest.mark.parametrize("raw", ["yesterday", "31/01/2026 09:00", "2026-13-01T00:00:00Z"])
def test_aware_datetime_rejects_unparseable_strings_quoting_them(raw):
    with pytest.raises(FieldError, match="is not an ISO-8601 date-time") as excinfo:
        rc.aware_datetime(raw)
    assert raw in str(excinfo.value)


@pytest.mark.parametrize("raw", [1706691600, 1.5, ["2026-01-31T09:00:00Z"], True])
def test_aware_datetime_rejects_non_string_values(raw):
    with pytest.raises(FieldError, match="must be an ISO-8601 date-time string"):
        rc.aware_datetime(raw)


# --- json_object --------------------------------------------------------------------------------


def test_json_object_returns_a_plain_dict_copy():
    given = {"a": 1, "nested": {"b": [1, 2]}}
    result = rc.json_object(given)
    assert result == given
    assert type(result) is dict
    assert result is not given


def test_json_object_turns_none_into_an_empty_object():
    assert rc.json_object(None) == {}


@pytest.mark.parametrize("raw", [[], [("a", 1)], "{}", 1, "text"])
def test_json_object_rejects_non_mappings(raw):
    with pytest.raises(FieldError, match="must be a JSON object"):
        rc.json_object(raw)


@pytest.mark.parametrize("raw", [{"": 1}, {1: "a"}, {"ok": 1, None: 2}])
def test_json_object_rejects_empty_or_non_string_keys(raw):
    with pytest.raises(FieldError, match="keys must be non-empty strings"):
        rc.json_object(raw)


# --- time_zone ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", " Europe/Lisbon "])
def test_time_zone_accepts_iana_names(raw):
    assert rc.time_zone(raw) == raw.strip()


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_time_zone_defaults_blank_to_utc(raw):
    assert rc.time_zone(raw) == "UTC"


@pytest.mark.parametrize(
    "raw", ["Mars/Olympus_Mons", "europe/berlin", "CEST+2", "../etc/passwd", "/etc/passwd"]
)
def test_time_zone_rejects_names_that_are_not_iana_zones(raw):
    with pytest.raises(FieldError, match="is not an IANA time zone"):
        rc.time_zone(raw)


@pytest.mark.parametrize("raw", ["Europe", "America"])
def test_time_zone_rejects_a_region_folder_name_as_a_field_error(raw):
    # "Europe" is a directory in the time zone database, not a zone; it must be reported like
    # any other bad name, not escape as an OSError.
    with pytest.raises(FieldError, match="is not an IANA time zone"):
        rc.time_zone(raw)


def test_time_zone_rejects_names_longer_than_64_characters():
    with pytest.raises(FieldError, match="longer than 64"):
        rc.time_zone("A" * 65)


# --- country_code -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("PT", "PT"), ("de", "DE"), (" us ", "US"), ("", ""), (None, "")]
)
def test_country_code_normalises_alpha2_codes_to_upper_case(raw, expected):
    assert rc.country_code(raw) == expected


@pytest.mark.parametrize("raw", ["1A", "D1", "D-", "é1"])
def test_country_code_rejects_two_characters_that_are_not_letters(raw):
    with pytest.raises(FieldError, match="is not an ISO 3166 alpha-2 country code"):
        rc.country_code(raw)


@pytest.mark.parametrize("raw", ["DEU", "Germany"])
def test_country_code_rejects_codes_longer_than_two_characters(raw):
    with pytest.raises(FieldError, match="longer than 2"):
        rc.country_code(raw)


# --- clean_row ----------------------------------------------------------------------------------

SPEC = {
    "external_id": rc.text(10, required=True),
    "email": rc.email,
    "country": rc.country_code,
    "amount": rc.decimal(min_value=Decimal(0)),
    "notes": rc.text(20),
}


def test_clean_row_returns_parsed_values_and_no_errors_for_a_good_row():
    values, errors = rc.clean_row(
        {"external_id": " x-1 ", "email": "A@B.CO", "country": "pt", "amount": "5"},
        SPEC,
        required=["external_id"],
    )
    assert errors == []
    assert values == {"external_id": "x-1", "email": "a@b.co", "country": "PT", "amount": Decimal("5.00")}


def test_clean_row_leaves_absent_optional_fields_out_of_the_result():
    values, errors = rc.clean_row({"external_id": "x-1"}, SPEC, required=["external_id"])
    assert errors == []
    assert values == {"external_id": "x-1"}
    assert "notes" not in values
    assert "email" not in values


def test_clean_row_keeps_an_explicitly_blank_optional_field():
    values, errors = rc.clean_row({"external_id": "x-1", "notes": ""}, SPEC)
    assert errors == []
    assert values == {"external_id": "x-1", "notes": ""}


def test_clean_row_reports_unknown_fields_by_name():
    values, errors = rc.clean_row({"external_id": "x-1", "favourite_colour": "blue"}, SPEC)
    assert errors == [RowError("favourite_colour", "is not a known field")]
    assert "favourite_colour" not in values


def test_clean_row_reports_a_non_string_unknown_key_as_text():
    _, errors = rc.clean_row({"external_id": "x-1", 7: "seven"}, SPEC)
    assert errors == [RowError("7", "is not a known field")]


def test_clean_row_reports_each_missing_required_field():
    _, errors = rc.clean_row({"notes": "hi"}, SPEC, required=["external_id", "email"])
    assert RowError("external_id", "is required") in errors
    assert RowError("email", "is required") in errors
    assert len(errors) == 2


def test_clean_row_reports_a_present_but_blank_required_field_through_its_parser():
    _, errors = rc.clean_row({"external_id": "  "}, SPEC, required=["external_id"])
    assert errors == [RowError("external_id", "is required and may not be blank")]


@pytest.mark.parametrize("row", [None, [], ["external_id", "x"], "external_id=x", 3])
def test_clean_row_rejects_a_row_that_is_not_a_mapping(row):
    values, errors = rc.clean_row(row, SPEC, required=["external_id"])
    assert values == {}
    assert errors == [RowError("(row)", "must be a JSON object")]


def test_clean_row_collects_every_error_of_a_row_each_naming_its_field():
    # given a row with several independent problems
    row = {"email": "nope", "country": "XYZ", "amount": "-1", "extra": 1, "notes": "fine"}
    # when it is cleaned
    values, errors = rc.clean_row(row, SPEC, required=["external_id"])
    # then every problem is reported, each under its own field name
    by_field = {e.field: e.message for e in errors}
    assert set(by_field) == {"external_id", "email", "country", "amount", "extra"}
    assert by_field["external_id"] == "is required"
    assert "not a valid email address" in by_field["email"]
    assert "longer than 2" in by_field["country"]
    assert by_field["amount"] == "must be at least 0"
    assert by_field["extra"] == "is not a known field"
    # and the valid fields are still parsed
    assert values == {"notes": "fine"}


def test_clean_row_turns_a_huge_decimal_into_a_row_error_instead_of_raising():
    _, errors = rc.clean_row({"external_id": "x", "amount": "1e30"}, SPEC)
    assert [e.field for e in errors] == ["amount"]


def test_row_error_as_dict_has_field_and_message():
    assert RowError("email", "bad").as_dict() == {"field": "email", "message": "bad"}


def test_text_rejects_booleans_even_though_bool_is_an_int():
    with pytest.raises(FieldError, match="must be a string"):
        rc.text(5)(True)
