"""The decision log's hash chain, as pure functions (no ORM): canonical form, hashes, verification.

An entry's hash covers every stored field of the entry in a canonical JSON form (keys sorted,
timestamps in ISO 8601 UTC with microseconds, UUIDs as strings, JSON fields with their keys
sorted), so the same row read back from SQLite or PostgreSQL always gives the same hash. Seals
chain those hashes in seal order: ``chain_hash = sha256(previous chain_hash + entry_hash)``,
starting from ``GENESIS``. Changing, removing, inserting or reordering anything breaks the chain at
the first seal concerned, and ``verify`` names it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

# The entry fields a hash covers. Adding a field to DecisionLogEntry means adding it here in a new
# hash version; old seals stay verifiable only with the list they were made with.
HASHED_FIELDS = (
    "id",
    "event_id",
    "timestamp",
    "event_type",
    "actor",
    "input_context",
    "model_version",
    "prediction",
    "action_taken",
    "approval",
    "outcome",
    "correlation_id",
    "environment",
    "subject_type",
    "subject_id",
    "caused_by_id",
)


def canonical_value(value: Any) -> Any:
    """A field value as it appears in the canonical form (and in exports): JSON-ready, stable."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("decision-log timestamps must be timezone-aware")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def canonical_entry(fields: Mapping[str, Any]) -> bytes:
    """The canonical bytes of an entry: exactly ``HASHED_FIELDS``, sorted keys, compact UTF-8 JSON.

    Raises ``KeyError`` when a hashed field is missing, so a partial row can never be sealed.
    """
    data = {name: canonical_value(fields[name]) for name in HASHED_FIELDS}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the entry's canonical form."""
    return hashlib.sha256(canonical_entry(fields)).hexdigest()


def chain_hash(*, previous: str, entry: str) -> str:
    """The next link: SHA-256 (hex) of the previous chain hash followed by this entry's hash."""
    return hashlib.sha256(f"{previous}{entry}".encode("ascii")).hexdigest()


@dataclass(frozen=True)
class SealedRow:
    """A seal as stored, with the fields of the entry it seals (``None`` when that entry is gone)."""

    sequence: int
    entry_id: int
    entry_hash: str
    chain_hash: str
    entry: Mapping[str, Any] | None


@dataclass(frozen=True)
class BrokenLink:
    """The first place where the chain does not hold, and which check failed there."""

    sequence: int
    entry_id: int | None
    check: str  # "sequence", "entry_missing", "entry_id", "entry_hash" or "chain_hash"
    detail: str

    def __str__(self) -> str:
        entry = f"entry #{self.entry_id}" if self.entry_id is not None else "no entry"
        return f"seal {self.sequence} ({entry}): {self.check} — {self.detail}"


@dataclass(frozen=True)
class ChainResult:
    """What ``verify`` found: how many seals held, the last good link, and the first broken one."""

    checked: int
    head_sequence: int | None
    head_chain_hash: str
    broken: BrokenLink | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(
    rows: Iterable[SealedRow], *, previous_chain_hash: str = GENESIS, first_sequence: int = 1
) -> ChainResult:
    """Check seals in sequence order and stop at the first broken link.

    ``rows`` must be ordered by sequence. A full check starts at sequence 1 from ``GENESIS``; a
    partial one starts at ``first_sequence`` from the stored chain hash of the seal before it (which
    it then trusts). Checks, in order, for each seal: no gap or repeat in the sequence; its entry
    still exists and is the one sealed; the entry still hashes to the sealed hash; the chain hash
    follows from the previous one.
    """
    expected_sequence = first_sequence
    previous = previous_chain_hash
    checked = 0
    head: int | None = None
    for row in rows:
        broken = _check(row, expected_sequence=expected_sequence, previous=previous)
        if broken is not None:
            return ChainResult(checked=checked, head_sequence=head, head_chain_hash=previous, broken=broken)
        previous = row.chain_hash
        head = row.sequence
        expected_sequence = row.sequence + 1
        checked += 1
    return ChainResult(checked=checked, head_sequence=head, head_chain_hash=previous, broken=None)


def _check(row: SealedRow, *, expected_sequence: int, previous: str) -> BrokenLink | None:
    if row.sequence != expected_sequence:
        what = "missing" if row.sequence > expected_sequence else "repeated or out of order"
        return BrokenLink(
            sequence=expected_sequence,
            entry_id=row.entry_id,
            check="sequence",
            detail=f"expected seal {expected_sequence}, found {row.sequence} (seal {what})",
        )
    if row.entry is None:
        return BrokenLink(
            sequence=row.sequence,
            entry_id=row.entry_id,
            check="entry_missing",
            detail="the sealed entry is gone",
        )
    if row.entry.get("id") != row.entry_id:
        return BrokenLink(
            sequence=row.sequence,
            entry_id=row.entry_id,
            check="entry_id",
            detail=f"the seal is for entry #{row.entry_id} but was given entry #{row.entry.get('id')}",
        )
    actual = entry_hash(row.entry)
    if actual != row.entry_hash:
        return BrokenLink(
            sequence=row.sequence,
            entry_id=row.entry_id,
            check="entry_hash",
            detail=f"the entry was altered after sealing (sealed {row.entry_hash[:12]}…, now {actual[:12]}…)",
        )
    expected_chain = chain_hash(previous=previous, entry=row.entry_hash)
    if expected_chain != row.chain_hash:
        return BrokenLink(
            sequence=row.sequence,
            entry_id=row.entry_id,
            check="chain_hash",
            detail=f"the chain hash does not follow from the previous seal (stored {row.chain_hash[:12]}…)",
        )
    return None


def seal_rows(
    entries: Iterable[Mapping[str, Any]], *, previous_chain_hash: str, next_sequence: int
) -> list[tuple[int, int, str, str]]:
    """Chain ``entries`` (in the order given) after a head: ``(sequence, entry_id, entry_hash, chain_hash)``."""
    sealed = []
    previous = previous_chain_hash
    sequence = next_sequence
    for fields in entries:
        digest = entry_hash(fields)
        previous = chain_hash(previous=previous, entry=digest)
        sealed.append((sequence, int(fields["id"]), digest, previous))
        sequence += 1
    return sealed
