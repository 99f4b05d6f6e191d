"""The pure hash chain: canonical form, links and verification (no database)."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from audit import chain


def _fields(entry_id: int, **changes):
    fields = {
        "id": entry_id,
        "event_id": uuid.UUID(int=entry_id),
        "timestamp": datetime(2026, 11, 27, 10, 0, entry_id % 60, 123456, tzinfo=UTC),
        "event_type": "action.decided",
        "actor": "manager",
        "input_context": {"email": "sha256:0123456789abcdef", "score": 91, "nested": {"b": 1, "a": [1, 2]}},
        "model_version": "lead-score@3",
        "prediction": {"score": 0.91, "confidence": 0.8},
        "action_taken": {"kind": "enroll", "target_system": "hubspot"},
        "approval": {"approver": "manager", "decision": "approve"},
        "outcome": {},
        "correlation_id": uuid.UUID(int=1000 + entry_id),
        "environment": "test",
        "subject_type": "proposed_action",
        "subject_id": str(entry_id),
        "caused_by_id": None,
    }
    fields.update(changes)
    return fields


def _sealed(count: int) -> list[chain.SealedRow]:
    entries = [_fields(i) for i in range(1, count + 1)]
    seals = chain.seal_rows(entries, previous_chain_hash=chain.GENESIS, next_sequence=1)
    return [
        chain.SealedRow(sequence=s, entry_id=e, entry_hash=h, chain_hash=c, entry=fields)
        for (s, e, h, c), fields in zip(seals, entries, strict=True)
    ]


def test_it_hashes_the_same_entry_the_same_way_whatever_the_key_order_and_timezone():
    fields = _fields(1)
    shuffled = dict(reversed(list(fields.items())))
    shuffled["input_context"] = {
        "nested": {"a": [1, 2], "b": 1},
        "score": 91,
        "email": "sha256:0123456789abcdef",
    }
    shuffled["timestamp"] = fields["timestamp"].astimezone(timezone(timedelta(hours=2)))
    assert chain.entry_hash(shuffled) == chain.entry_hash(fields)


def test_it_hashes_the_canonical_form_of_an_export_to_the_same_value():
    fields = _fields(1)
    exported = {key: chain.canonical_value(value) for key, value in fields.items()}
    assert exported["timestamp"] == "2026-11-27T10:00:01.123456Z"
    assert chain.entry_hash(exported) == chain.entry_hash(fields)


def test_it_ignores_fields_outside_the_hashed_list_and_refuses_a_partial_entry():
    assert chain.entry_hash({**_fields(1), "seal_sequence": 9}) == chain.entry_hash(_fields(1))
    partial = _fields(1)
    del partial["outcome"]
    with pytest.raises(KeyError):
        chain.entry_hash(partial)


def test_it_refuses_naive_timestamps():
    with pytest.raises(ValueError, match="timezone-aware"):
        chain.entry_hash(_fields(1, timestamp=datetime(2026, 1, 1)))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("id", 99),
        ("event_id", uuid.UUID(int=99)),
        ("timestamp", datetime(2026, 11, 27, 10, 0, 1, 123457, tzinfo=UTC)),
        ("event_type", "action.proposed"),
        ("actor", "mallory"),
        ("input_context", {"email": "sha256:0123456789abcdef", "score": 92, "nested": {"b": 1, "a": [1, 2]}}),
        ("model_version", "lead-score@4"),
        ("prediction", {"score": 0.91, "confidence": 0.81}),
        ("action_taken", {"kind": "enroll", "target_system": "salesforce"}),
        ("approval", {"approver": "mallory", "decision": "approve"}),
        ("outcome", {"meeting_booked": True}),
        ("correlation_id", None),
        ("environment", "production"),
        ("subject_type", "ticket"),
        ("subject_id", "2"),
        ("caused_by_id", 1),
    ],
)
def test_it_changes_the_hash_when_any_field_changes(name, value):
    assert name in chain.HASHED_FIELDS
    assert chain.entry_hash(_fields(1, **{name: value})) != chain.entry_hash(_fields(1))


def test_it_covers_every_hashed_field_in_the_tamper_test():
    # Guards the parametrised test above against a field added to HASHED_FIELDS without a case.
    assert set(chain.HASHED_FIELDS) == set(_fields(1))


def test_it_links_each_seal_to_the_previous_one():
    rows = _sealed(3)
    assert [r.sequence for r in rows] == [1, 2, 3]
    assert rows[0].chain_hash == chain.chain_hash(previous=chain.GENESIS, entry=rows[0].entry_hash)
    assert rows[2].chain_hash == chain.chain_hash(previous=rows[1].chain_hash, entry=rows[2].entry_hash)


def test_it_verifies_an_intact_chain_and_names_its_head():
    rows = _sealed(5)
    result = chain.verify(rows)
    assert result.ok
    assert (result.checked, result.head_sequence, result.head_chain_hash) == (5, 5, rows[-1].chain_hash)


def test_it_verifies_an_empty_chain():
    result = chain.verify([])
    assert result.ok and result.checked == 0 and result.head_sequence is None


def test_it_verifies_a_stretch_from_a_trusted_anchor():
    rows = _sealed(5)
    result = chain.verify(rows[2:], previous_chain_hash=rows[1].chain_hash, first_sequence=3)
    assert result.ok and result.checked == 3
    broken = chain.verify(rows[2:], previous_chain_hash=chain.GENESIS, first_sequence=3).broken
    assert broken is not None and (broken.sequence, broken.check) == (3, "chain_hash")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("actor", "mallory"),
        ("approval", {"approver": "mallory", "decision": "approve"}),
        ("timestamp", datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),
        ("caused_by_id", 2),
    ],
)
def test_it_reports_an_entry_altered_after_sealing(name, value):
    rows = _sealed(4)
    altered = _fields(3, **{name: value})
    rows[2] = replace(rows[2], entry=altered)
    result = chain.verify(rows)
    assert result.broken is not None
    assert (result.broken.sequence, result.broken.entry_id, result.broken.check) == (3, 3, "entry_hash")
    assert (result.checked, result.head_sequence) == (2, 2)
    assert "seal 3 (entry #3): entry_hash" in str(result.broken)


def test_it_reports_an_entry_resealed_without_relinking_the_chain():
    rows = _sealed(4)
    altered = _fields(2, actor="mallory")
    rows[1] = replace(rows[1], entry=altered, entry_hash=chain.entry_hash(altered))
    result = chain.verify(rows)
    assert result.broken is not None and (result.broken.sequence, result.broken.check) == (2, "chain_hash")


def test_it_reports_a_deleted_seal_as_a_gap():
    rows = _sealed(4)
    del rows[1]
    result = chain.verify(rows)
    assert result.broken is not None
    assert (result.broken.sequence, result.broken.check) == (2, "sequence")
    assert "found 3 (seal missing)" in result.broken.detail


def test_it_reports_a_deleted_entry():
    rows = _sealed(3)
    rows[1] = replace(rows[1], entry=None)
    result = chain.verify(rows)
    assert result.broken is not None and (result.broken.sequence, result.broken.check) == (2, "entry_missing")


def test_it_reports_a_seal_pointing_at_another_entry():
    rows = _sealed(3)
    rows[1] = replace(rows[1], entry=_fields(3))
    result = chain.verify(rows)
    assert result.broken is not None and (result.broken.sequence, result.broken.check) == (2, "entry_id")


def test_it_reports_seals_out_of_order():
    rows = _sealed(3)
    rows[1], rows[2] = rows[2], rows[1]
    result = chain.verify(rows)
    assert result.broken is not None and (result.broken.sequence, result.broken.check) == (2, "sequence")


def test_it_reports_reordered_seals_renumbered_to_look_contiguous():
    rows = _sealed(3)
    swapped = [rows[0], replace(rows[2], sequence=2), replace(rows[1], sequence=3)]
    result = chain.verify(swapped)
    assert result.broken is not None and (result.broken.sequence, result.broken.check) == (2, "chain_hash")


def test_it_reports_an_entry_inserted_into_the_chain():
    rows = _sealed(3)
    forged = _fields(50)
    digest = chain.entry_hash(forged)
    inserted = chain.SealedRow(
        sequence=2,
        entry_id=50,
        entry_hash=digest,
        chain_hash=chain.chain_hash(previous=rows[0].chain_hash, entry=digest),
        entry=forged,
    )
    shifted = [rows[0], inserted, *(replace(r, sequence=r.sequence + 1) for r in rows[1:])]
    result = chain.verify(shifted)
    assert result.broken is not None and (result.broken.sequence, result.broken.check) == (3, "chain_hash")


def test_it_reports_a_repeated_seal():
    rows = _sealed(3)
    result = chain.verify([rows[0], rows[1], rows[1], rows[2]])
    assert result.broken is not None
    assert (result.broken.sequence, result.broken.check) == (3, "sequence")
    assert "repeated or out of order" in result.broken.detail
