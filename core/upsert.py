"""Idempotent upsert of mirrored records by their natural key ``(source, external_id)``.

Shared by leads and tickets: it reads the existing rows once (locked), merges the new values,
classifies each row as created / updated / unchanged / stale, and writes only the rows that
changed with one ``INSERT … ON CONFLICT DO UPDATE`` per batch. No per-row queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone

Key = tuple[str, str]

READ_CHUNK = 2000


class RowStatus:
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    STALE = "stale"


@dataclass(frozen=True)
class UpsertRow:
    """One validated row: its natural key and the field values it sets (absent fields are kept)."""

    key: Key
    values: Mapping[str, Any]
    index: int = 0  # position in the batch it came from, for error reports


@dataclass
class UpsertResult:
    statuses: list[str] = field(default_factory=list)
    ids: list[int | None] = field(default_factory=list)
    #: For each updated row (by its position in ``rows``), the watched fields it changed:
    #: ``{name: (before, after)}``.
    changes: dict[int, dict[str, tuple[Any, Any]]] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for s in self.statuses if s == status)

    @property
    def summary(self) -> dict[str, int]:
        return {
            s: self.count(s)
            for s in (RowStatus.CREATED, RowStatus.UPDATED, RowStatus.UNCHANGED, RowStatus.STALE)
        }


def _merge_json(current: Mapping[str, Any] | None, incoming: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a JSON object key by key; a key set to None is removed."""
    merged = dict(current or {})
    for key, value in incoming.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _is_stale(existing: models.Model, values: Mapping[str, Any], modified_field: str) -> bool:
    incoming = values.get(modified_field)
    current = getattr(existing, modified_field, None)
    return isinstance(incoming, datetime) and isinstance(current, datetime) and incoming < current


def _existing_by_key(model: type[models.Model], keys: Iterable[Key]) -> dict[Key, models.Model]:
    by_source: dict[str, list[str]] = {}
    for source, external_id in keys:
        by_source.setdefault(source, []).append(external_id)
    found: dict[Key, models.Model] = {}
    for source, external_ids in by_source.items():
        for start in range(0, len(external_ids), READ_CHUNK):
            chunk = external_ids[start : start + READ_CHUNK]
            # The lock keeps a concurrent upsert of the same rows from interleaving (PostgreSQL).
            rows = model._default_manager.select_for_update().filter(source=source, external_id__in=chunk)
            for obj in rows:
                found[(obj.source, obj.external_id)] = obj  # type: ignore[attr-defined]
    return found


def natural_key_upsert(
    *,
    model: type[models.Model],
    rows: Sequence[UpsertRow],
    writable_fields: Sequence[str],
    json_merge_fields: Sequence[str] = ("attributes",),
    modified_field: str = "source_modified_at",
    watched: Sequence[str] = (),
) -> UpsertResult:
    """Upsert ``rows`` into ``model``; call inside ``transaction.atomic()``.

    Keys must be unique within ``rows`` (callers validate that and report duplicates per row).
    A row whose ``modified_field`` is older than the stored one is *stale* and not applied, so an
    out-of-order delivery never overwrites newer data. The ``watched`` fields an update changes are
    reported in ``result.changes`` (before and after), read from the rows already loaded.
    """
    existing = _existing_by_key(model, (row.key for row in rows))
    now = timezone.now()
    result = UpsertResult()
    to_write: list[models.Model] = []
    written_index: list[int] = []
    for index, row in enumerate(rows):
        current = existing.get(row.key)
        if current is not None and _is_stale(current, row.values, modified_field):
            result.statuses.append(RowStatus.STALE)
            result.ids.append(current.pk)
            continue
        obj = current if current is not None else model(source=row.key[0], external_id=row.key[1])
        before = {name: getattr(obj, name) for name in writable_fields} if current is not None else None
        for name, value in row.values.items():
            if name in json_merge_fields:
                value = _merge_json(getattr(obj, name), value)
            setattr(obj, name, value)
        if before is not None and all(getattr(obj, n) == before[n] for n in writable_fields):
            result.statuses.append(RowStatus.UNCHANGED)
            result.ids.append(obj.pk)
            continue
        if before is not None:
            changed = {n: (before[n], getattr(obj, n)) for n in watched if getattr(obj, n) != before[n]}
            if changed:
                result.changes[index] = changed
        obj.updated_at = now  # type: ignore[attr-defined]
        if current is None:
            obj.created_at = now  # type: ignore[attr-defined]
        result.statuses.append(RowStatus.UPDATED if current is not None else RowStatus.CREATED)
        result.ids.append(obj.pk)
        to_write.append(obj)
        written_index.append(index)

    if to_write:
        model._default_manager.bulk_create(
            to_write,
            update_conflicts=True,
            unique_fields=["source", "external_id"],
            update_fields=[*writable_fields, "updated_at"],
            batch_size=500,
        )
        missing = [i for i, obj in zip(written_index, to_write, strict=True) if obj.pk is None]
        if missing:
            # Backends that cannot return ids from an upsert: one read per batch, not per row.
            ids = dict(
                ((s, e), pk)
                for s, e, pk in model._default_manager.filter(
                    external_id__in=[rows[i].key[1] for i in missing]
                ).values_list("source", "external_id", "pk")
            )
            for i in missing:
                result.ids[i] = ids.get(rows[i].key)
        for i, obj in zip(written_index, to_write, strict=True):
            if obj.pk is not None:
                result.ids[i] = obj.pk
    return result


@dataclass(frozen=True)
class BatchRowError:
    index: int
    external_id: str
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "external_id": self.external_id,
            "field": self.field,
            "message": self.message,
        }


def validate_batch(
    raw_rows: Sequence[Any],
    spec: Mapping[str, Any],
    *,
    required: Sequence[str] = ("source", "external_id"),
) -> tuple[list[UpsertRow], list[BatchRowError]]:
    """Validate every row of a batch; return the clean rows and all errors (each with its index).

    A key that appears twice in one batch is an error on the later rows: which of the two should
    win is not ours to guess.
    """
    from core.rowcheck import clean_row

    clean: list[UpsertRow] = []
    errors: list[BatchRowError] = []
    first_seen: dict[Key, int] = {}
    for index, raw in enumerate(raw_rows):
        values, row_errors = clean_row(raw, spec, required=required)
        external_id = str(raw.get("external_id", "")).strip() if isinstance(raw, Mapping) else ""
        errors.extend(BatchRowError(index, external_id, e.field, e.message) for e in row_errors)
        if row_errors:
            continue
        key = (values.pop("source"), values.pop("external_id"))
        if key in first_seen:
            errors.append(
                BatchRowError(index, key[1], "external_id", f"duplicates row {first_seen[key]} of this batch")
            )
            continue
        first_seen[key] = index
        clean.append(UpsertRow(key=key, values=values, index=index))
    return clean, errors


@dataclass
class BatchOutcome:
    """What a bulk upsert did: ``errors`` per bad row, and ``result`` unless the batch was rejected."""

    errors: list[BatchRowError] = field(default_factory=list)
    result: UpsertResult | None = None

    @property
    def ok(self) -> bool:
        return not self.errors
