from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from agentops.upsert import (
    BatchOutcome,
    BatchRowError,
    UpsertResult,
    UpsertRow,
    natural_key_upsert,
    validate_batch,
)
from audit.choices import EventType
from audit.services import decision_log_append
from sales.lead_rows import LEAD_FIELDS, WRITABLE_FIELDS
from sales.models import Account, Lead


class BatchTooLarge(ValueError):
    """More rows than one batch may hold."""


def _resolve_owners(rows: list[UpsertRow]) -> list[BatchRowError]:
    """Replace owner user names by user ids, one query for the batch; unknown names are errors."""
    names = {row.values["owner"] for row in rows if row.values.get("owner")}
    User = get_user_model()
    ids = dict(User.objects.filter(username__in=names, is_active=True).values_list("username", "pk"))
    errors = []
    for position, row in enumerate(rows):
        if "owner" not in row.values:
            continue
        values = dict(row.values)
        name = values.pop("owner")
        if name and name not in ids:
            errors.append(BatchRowError(row.index, row.key[1], "owner", f"no active user named '{name}'"))
        values["owner_id"] = ids.get(name) if name else None
        rows[position] = UpsertRow(key=row.key, values=values, index=row.index)
    return errors


def lead_bulk_upsert(
    *, rows: Sequence[Any], actor: str, max_rows: int | None = None, atomic: bool = True
) -> BatchOutcome:
    """Upsert leads by ``(source, external_id)``.

    With ``atomic`` (the API), any bad row rejects the whole batch and nothing is written; the
    outcome lists every bad row with its field and reason. Without it (file imports), the good
    rows are written and the bad ones reported. Re-sending a batch changes nothing.
    """
    if max_rows is not None and len(rows) > max_rows:
        raise BatchTooLarge(f"leads: at most {max_rows} rows per batch, got {len(rows)}")
    clean, errors = validate_batch(rows, LEAD_FIELDS)
    if errors and atomic:
        return BatchOutcome(errors=errors)
    owner_errors = _resolve_owners(clean)
    if owner_errors:
        errors = sorted([*errors, *owner_errors], key=lambda e: e.index)
        if atomic:
            return BatchOutcome(errors=errors)
        bad = {e.index for e in owner_errors}
        clean = [row for row in clean if row.index not in bad]
    with transaction.atomic():
        result = natural_key_upsert(model=Lead, rows=clean, writable_fields=WRITABLE_FIELDS)
        summary = result.summary
        if summary["created"] or summary["updated"]:
            decision_log_append(
                event_type=EventType.LEADS_UPSERTED,
                actor=actor,
                subject_type="lead_batch",
                input_context={"rows": len(rows), "sources": sorted({r.key[0] for r in clean})},
                action_taken={**summary, "rejected": len(errors)},
            )
    _rescore_after_commit(result)
    return BatchOutcome(errors=errors, result=result)


def _rescore_after_commit(result: UpsertResult) -> None:
    """Changed leads are re-scored by a task once the change is committed (if a champion exists)."""
    if not settings.SCORING_AUTO_RESCORE:
        return
    changed = [
        pk for pk, st in zip(result.ids, result.statuses, strict=True) if pk and st in ("created", "updated")
    ]
    if not changed:
        return
    from scoring.selectors import champion
    from scoring.tasks import enqueue_rescore

    if champion() is not None:
        transaction.on_commit(lambda: enqueue_rescore(changed))


ACCOUNT_FIELDS = (
    "name", "domain", "industry", "employee_count", "size_band", "annual_revenue", "region",
    "country", "account_value", "attributes",
)  # fmt: skip


def account_upsert_many(*, source: str, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Upsert trusted account rows (demo data, connectors) by external id; return external id -> pk."""
    clean = [
        UpsertRow(
            key=(source, row["external_id"]), values={k: row[k] for k in ACCOUNT_FIELDS if k in row}, index=i
        )
        for i, row in enumerate(rows)
    ]
    with transaction.atomic():
        result = natural_key_upsert(model=Account, rows=clean, writable_fields=ACCOUNT_FIELDS)
    return {row.key[1]: pk for row, pk in zip(clean, result.ids, strict=True) if pk is not None}
