"""Reads of the decision log: verification of the hash chain, seal lag, export rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from audit import chain
from audit.models import AuditSeal, DecisionLogEntry

# An entry still unsealed after this long means the sealer is not running (or is failing).
MAX_SEAL_LAG = timedelta(minutes=5)
CHUNK = 2000


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of ``audit_log_verify``: the chain check plus entries left unsealed too long."""

    chain: chain.ChainResult
    unsealed_overdue: int
    oldest_overdue_id: int | None
    unsealed_recent: int

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.unsealed_overdue == 0


def _entries_between(date_from: datetime | None, date_to: datetime | None) -> QuerySet[DecisionLogEntry]:
    entries = DecisionLogEntry.objects.all()
    if date_from is not None:
        entries = entries.filter(timestamp__gte=date_from)
    if date_to is not None:
        entries = entries.filter(timestamp__lt=date_to)
    return entries


def _sealed_rows(seals: QuerySet[AuditSeal]) -> Iterator[chain.SealedRow]:
    """Seals in sequence order with their entries' fields, read in chunks (never the whole log)."""
    rows = seals.order_by("sequence").values_list("sequence", "entry_id", "entry_hash", "chain_hash")
    stream = rows.iterator(chunk_size=CHUNK)
    while chunk := list(islice(stream, CHUNK)):
        entries = {
            fields["id"]: fields
            for fields in DecisionLogEntry.objects.filter(id__in=[row[1] for row in chunk])
            .order_by()
            .values(*chain.HASHED_FIELDS)
        }
        for sequence, entry_id, entry_hash, chain_hash in chunk:
            yield chain.SealedRow(
                sequence=sequence,
                entry_id=entry_id,
                entry_hash=entry_hash,
                chain_hash=chain_hash,
                entry=entries.get(entry_id),
            )


def audit_log_verify(
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    max_seal_lag: timedelta = MAX_SEAL_LAG,
    now: datetime | None = None,
) -> VerifyReport:
    """Recompute every seal's entry hash and chain link, and count entries unsealed for too long.

    Without dates the whole chain is checked from its start. With dates, the seals of the entries
    in ``[date_from, date_to)`` are checked as one stretch of the chain, anchored on the stored
    chain hash of the seal just before it (the full check is what vouches for that one).
    """
    now = now or timezone.now()
    seals = AuditSeal.objects.all()
    previous, first_sequence = chain.GENESIS, 1
    if date_from is not None or date_to is not None:
        bounds = AuditSeal.objects.filter(
            entry__in=_entries_between(date_from, date_to).values("id")
        ).aggregate(low=Min("sequence"), high=Max("sequence"))
        if bounds["low"] is None:
            seals = AuditSeal.objects.none()
        else:
            first_sequence = bounds["low"]
            seals = seals.filter(sequence__gte=bounds["low"], sequence__lte=bounds["high"])
            if first_sequence > 1:
                anchor = AuditSeal.objects.filter(sequence=first_sequence - 1).values_list(
                    "chain_hash", flat=True
                )
                # A missing anchor leaves GENESIS, so the first link fails and is reported.
                previous = anchor.first() or chain.GENESIS
    result = chain.verify(_sealed_rows(seals), previous_chain_hash=previous, first_sequence=first_sequence)
    unsealed = _entries_between(date_from, date_to).filter(seal__isnull=True)
    overdue = unsealed.filter(timestamp__lt=now - max_seal_lag)
    return VerifyReport(
        chain=result,
        unsealed_overdue=overdue.count(),
        oldest_overdue_id=overdue.order_by("id").values_list("id", flat=True).first(),
        unsealed_recent=unsealed.filter(timestamp__gte=now - max_seal_lag).count(),
    )


def audit_seal_lag(*, now: datetime | None = None) -> timedelta:
    """How long the oldest unsealed entry has waited (zero when everything is sealed): a health metric."""
    oldest = DecisionLogEntry.objects.filter(seal__isnull=True).aggregate(oldest=Min("timestamp"))["oldest"]
    return (now or timezone.now()) - oldest if oldest is not None else timedelta(0)


EXPORT_SEAL_FIELDS = {
    "seal__sequence": "seal_sequence",
    "seal__entry_hash": "entry_hash",
    "seal__chain_hash": "chain_hash",
}


def decision_log_export_rows(*, date_from: datetime, date_to: datetime) -> Iterator[dict[str, Any]]:
    """Entries with a timestamp in ``[date_from, date_to)``, oldest first, as JSON-ready dicts.

    Each row holds the hashed fields in their canonical form (so ``audit.chain.entry_hash(row)``
    recomputes the sealed hash from the export alone) plus the entry's seal, ``None`` while unsealed.
    Streams from the database in chunks.
    """
    rows = (
        _entries_between(date_from, date_to)
        .order_by("timestamp", "id")
        .values(*chain.HASHED_FIELDS, *EXPORT_SEAL_FIELDS)
    )
    for row in rows.iterator(chunk_size=CHUNK):
        yield {EXPORT_SEAL_FIELDS.get(key, key): chain.canonical_value(value) for key, value in row.items()}
