from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from agentops.upsert import BatchOutcome, natural_key_upsert, validate_batch
from audit.choices import EventType
from audit.services import decision_log_append
from support.models import Ticket
from support.ticket_rows import TICKET_FIELDS, WRITABLE_FIELDS


def ticket_bulk_upsert(*, rows: Sequence[Any], actor: str, atomic: bool = True) -> BatchOutcome:
    """Upsert tickets by ``(source, external_id)``; same contract as ``lead_bulk_upsert``."""
    clean, errors = validate_batch(rows, TICKET_FIELDS, required=("source", "external_id", "body"))
    if errors and atomic:
        return BatchOutcome(errors=errors)
    with transaction.atomic():
        result = natural_key_upsert(model=Ticket, rows=clean, writable_fields=WRITABLE_FIELDS)
        if result.count("created") or result.count("updated"):
            decision_log_append(
                event_type=EventType.TICKETS_UPSERTED,
                actor=actor,
                subject_type="ticket_batch",
                input_context={"rows": len(rows), "sources": sorted({r.key[0] for r in clean})},
                action_taken={**result.summary, "rejected": len(errors)},
            )
    return BatchOutcome(errors=errors, result=result)
