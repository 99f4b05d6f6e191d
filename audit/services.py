from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from audit import chain
from audit.choices import EventType
from audit.models import AuditSeal, DecisionLogEntry
from audit.redaction import redact_context

logger = logging.getLogger(__name__)

# Any constant key works; it only has to be the same for every sealer of this database.
SEAL_LOCK_KEY = 0x417564697453  # "AuditS"


def decision_log_append(
    *,
    event_type: str,
    actor: str,
    subject_type: str = "",
    subject_id: str | int = "",
    input_context: Mapping[str, Any] | None = None,
    model_version: str = "",
    prediction: Mapping[str, Any] | None = None,
    action_taken: Mapping[str, Any] | None = None,
    approval: Mapping[str, Any] | None = None,
    outcome: Mapping[str, Any] | None = None,
    correlation_id: uuid.UUID | None = None,
    caused_by: DecisionLogEntry | None = None,
) -> DecisionLogEntry:
    """Append one entry to the decision log. Call it inside the transaction of the change it records.

    The entry is sealed into the hash chain shortly after its transaction commits (``audit_seal_pending``).
    """
    entry = DecisionLogEntry.objects.create(
        event_type=event_type,
        actor=actor,
        subject_type=subject_type,
        subject_id=str(subject_id),
        input_context=redact_context(input_context or {}),
        model_version=model_version,
        prediction=dict(prediction or {}),
        action_taken=dict(action_taken or {}),
        approval=dict(approval or {}),
        outcome=dict(outcome or {}),
        correlation_id=correlation_id,
        environment=settings.ENVIRONMENT,
        caused_by=caused_by,
    )
    if settings.AUDIT_SEAL_ON_COMMIT:
        transaction.on_commit(seal_soon)
    return entry


def decision_log_append_outcome(
    *, caused_by: DecisionLogEntry, outcome: Mapping[str, Any], actor: str
) -> DecisionLogEntry:
    """Record what came of a logged decision (meeting booked, ticket resolved) as a new linked entry.

    The decision's entry is never touched: the outcome entry points at it through ``caused_by`` and
    shares its subject and correlation id, so both are found together.
    """
    return decision_log_append(
        event_type=EventType.OUTCOME_RECORDED,
        actor=actor,
        subject_type=caused_by.subject_type,
        subject_id=caused_by.subject_id,
        model_version=caused_by.model_version,
        outcome=outcome,
        correlation_id=caused_by.correlation_id,
        caused_by=caused_by,
    )


# While this key exists a sealer run is already queued, so further commits do not queue another.
# The task deletes it when it starts; the timeout frees it if the worker never does (separate
# caches per process without Redis), so a commit waits at most this long to queue a run.
SEAL_QUEUED_KEY = "audit:seal-queued"
SEAL_DEBOUNCE_SECONDS = 5


def seal_soon() -> None:
    """Queue one sealer run soon, unless one is already queued; register it with
    ``transaction.on_commit`` after appending.

    Never raises: the entry is already committed, and the every-minute schedule seals it anyway.
    The task is named by its path, so this module need not import the tasks that import it.
    """
    try:
        if cache.add(SEAL_QUEUED_KEY, 1, timeout=SEAL_DEBOUNCE_SECONDS):
            async_task("audit.tasks.seal_pending_task", task_name="seal the decision log")
    except Exception:
        logger.exception("could not queue the decision-log sealer; the schedule will seal the entry")


def audit_seal_pending(*, batch_size: int = 2000) -> int:
    """Seal every committed, unsealed decision-log entry into the hash chain; return how many.

    Entries are sealed in id order within a run, each batch in its own transaction after the
    current head of the chain. Only one sealer works at a time: on PostgreSQL a transaction-level
    advisory lock queues the others (they then find the new head and whatever is left); SQLite has
    one writer anyway. The unique entry and sequence of a seal reject any sealer that slipped
    past both, so an entry is never sealed twice nor two seals share a place in the chain. Safe to
    run any number of times, concurrently or not.
    """
    total = 0
    while True:
        sealed = _seal_batch(batch_size=batch_size)
        total += sealed
        if sealed < batch_size:
            return total


def _seal_batch(*, batch_size: int) -> int:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
        head = AuditSeal.objects.order_by("-sequence").values_list("sequence", "chain_hash").first()
        last_sequence, previous = head if head is not None else (0, chain.GENESIS)
        # Chain order is seal order, not id order: an entry whose transaction commits after a
        # higher id was sealed still gets sealed, at the end of the chain, instead of being skipped.
        entries = list(
            DecisionLogEntry.objects.filter(seal__isnull=True)
            .order_by("id")
            .values(*chain.HASHED_FIELDS)[:batch_size]
        )
        if not entries:
            return 0
        now = timezone.now()
        AuditSeal.objects.bulk_create(
            AuditSeal(entry_id=entry_id, sequence=sequence, entry_hash=digest, chain_hash=link, sealed_at=now)
            for sequence, entry_id, digest, link in chain.seal_rows(
                entries, previous_chain_hash=previous, next_sequence=last_sequence + 1
            )
        )
        return len(entries)
