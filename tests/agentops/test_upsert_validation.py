"""Unit tests for core.upsert.validate_batch with the lead row spec (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from core.upsert import BatchRowError, UpsertRow, validate_batch
from sales.lead_rows import LEAD_FIELDS


def lead(external_id: str = "L-1", **fields) -> dict:
    return {"source": "api", "external_id": external_id, **fields}


def test_a_clean_batch_gives_one_upsert_row_per_input_row_and_no_errors():
    rows, errors = validate_batch([lead("L-1"), lead("L-2"), lead("L-3")], LEAD_FIELDS)
    assert errors == []
    assert [r.key for r in rows] == [("api", "L-1"), ("api", "L-2"), ("api", "L-3")]
    assert [r.index for r in rows] == [0, 1, 2]
    assert all(isinstance(r, UpsertRow) for r in rows)


def test_clean_rows_carry_parsed_values_without_the_key_fields():
    # given a row with a few fields beside the key
    raw = lead(
        "L-9",
        email=" Ana@Example.COM ",
        deal_value="1200.5",
        has_open_opportunity="yes",
        source_modified_at="2026-01-31T10:00:00+01:00",
    )
    # when validated
    rows, errors = validate_batch([raw], LEAD_FIELDS)
    # then the key is split off and the other values are clean
    assert errors == []
    (row,) = rows
    assert row.key == ("api", "L-9")
    assert row.values == {
        "email": "ana@example.com",
        "deal_value": Decimal("1200.50"),
        "has_open_opportunity": True,
        "source_modified_at": datetime(2026, 1, 31, 9, 0, tzinfo=UTC),
    }
    assert "source" not in row.values
    assert "external_id" not in row.values


def test_the_key_uses_the_cleaned_external_id():
    rows, _ = validate_batch([lead("  L-1  ")], LEAD_FIELDS)
    assert rows[0].key == ("api", "L-1")


def test_a_bad_row_is_reported_with_its_batch_index_external_id_and_field():
    rows, errors = validate_batch([lead("L-1"), lead("L-2", email="not-an-email"), lead("L-3")], LEAD_FIELDS)
    assert [r.key[1] for r in rows] == ["L-1", "L-3"]
    assert [r.index for r in rows] == [0, 2]
    (error,) = errors
    assert error.index == 1
    assert error.external_id == "L-2"
    assert error.field == "email"
    assert "not a valid email address" in error.message


def test_every_error_of_every_row_is_reported():
    batch = [
        lead("L-1", country="Germany", status="hot"),
        {"external_id": "L-2"},  # no source
        lead("L-3", favourite="x"),
    ]
    rows, errors = validate_batch(batch, LEAD_FIELDS)
    assert rows == []
    assert {(e.index, e.external_id, e.field) for e in errors} == {
        (0, "L-1", "country"),
        (0, "L-1", "status"),
        (1, "L-2", "source"),
        (2, "L-3", "favourite"),
    }


def test_missing_required_key_fields_are_errors():
    _, errors = validate_batch([{"email": "a@b.co"}], LEAD_FIELDS)
    assert {(e.field, e.message) for e in errors} == {
        ("source", "is required"),
        ("external_id", "is required"),
    }
    assert all(e.index == 0 and e.external_id == "" for e in errors)


def test_an_unknown_source_is_an_error():
    _, errors = validate_batch([{"source": "excel", "external_id": "L-1"}], LEAD_FIELDS)
    assert [(e.field, e.external_id) for e in errors] == [("source", "L-1")]


def test_a_duplicate_key_is_reported_on_the_later_row_naming_the_first_rows_index():
    # given the same key at positions 1 and 3
    batch = [lead("L-0"), lead("L-1", first_name="first"), lead("L-2"), lead("L-1", first_name="second")]
    # when validated
    rows, errors = validate_batch(batch, LEAD_FIELDS)
    # then the first occurrence is kept and the later one is an error pointing back to it
    assert [r.index for r in rows] == [0, 1, 2]
    assert rows[1].values == {"first_name": "first"}
    assert errors == [BatchRowError(3, "L-1", "external_id", "duplicates row 1 of this batch")]


def test_every_later_duplicate_names_the_first_occurrence():
    batch = [lead("L-1"), lead("L-1"), lead("L-1")]
    rows, errors = validate_batch(batch, LEAD_FIELDS)
    assert [r.index for r in rows] == [0]
    assert [(e.index, e.message) for e in errors] == [
        (1, "duplicates row 0 of this batch"),
        (2, "duplicates row 0 of this batch"),
    ]


def test_keys_that_differ_only_in_surrounding_whitespace_are_duplicates():
    _, errors = validate_batch([lead("L-1"), lead(" L-1 ")], LEAD_FIELDS)
    assert [(e.index, e.field, e.message) for e in errors] == [
        (1, "external_id", "duplicates row 0 of this batch")
    ]


def test_the_same_external_id_from_different_sources_is_not_a_duplicate():
    rows, errors = validate_batch(
        [{"source": "salesforce", "external_id": "X"}, {"source": "hubspot", "external_id": "X"}], LEAD_FIELDS
    )
    assert errors == []
    assert [r.key for r in rows] == [("salesforce", "X"), ("hubspot", "X")]


def test_an_invalid_row_does_not_claim_its_key_for_duplicate_detection():
    # the first row is rejected, so the second one with the same key is the first valid one
    rows, errors = validate_batch([lead("L-1", email="bad"), lead("L-1")], LEAD_FIELDS)
    assert [r.index for r in rows] == [1]
    assert [(e.index, e.field) for e in errors] == [(0, "email")]


def test_a_non_dict_row_is_an_error_with_its_index_and_no_external_id():
    rows, errors = validate_batch([lead("L-1"), ["api", "L-2"], "L-3"], LEAD_FIELDS)
    assert [r.index for r in rows] == [0]
    assert errors == [
        BatchRowError(1, "", "(row)", "must be a JSON object"),
        BatchRowError(2, "", "(row)", "must be a JSON object"),
    ]


def test_custom_required_fields_are_enforced():
    _, errors = validate_batch([lead("L-1")], LEAD_FIELDS, required=("source", "external_id", "email"))
    assert errors == [BatchRowError(0, "L-1", "email", "is required")]


def test_an_empty_batch_is_valid_and_empty():
    assert validate_batch([], LEAD_FIELDS) == ([], [])


def test_batch_row_error_as_dict_has_all_four_fields():
    error = BatchRowError(4, "L-4", "email", "bad")
    assert error.as_dict() == {"index": 4, "external_id": "L-4", "field": "email", "message": "bad"}


def test_errors_name_the_external_id_as_stored_without_surrounding_spaces():
    _, errors = validate_batch([{"source": "api", "external_id": " L-1 ", "email": "nope"}], LEAD_FIELDS)
    assert errors[0].external_id == "L-1"
