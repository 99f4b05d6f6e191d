"""Incremental sync: read what changed at the vendor since the last run and apply it like webhooks.

Each changed record becomes an event (channel ``sync``, id ``sync:<kind>:<vendor id>:<modified>``)
stored by ``inbound_events_store`` and applied by ``inbound_process_pending``, so a change seen by
both a webhook and the sync is applied by the same rules, and a record read twice (vendors repeat
the records of the boundary second) is stored once. It catches deliveries that never came and is
the whole inbound path when webhooks are off.

Per connection and kind, a ``SyncCursor`` keeps ``since`` (the newest modification time applied by
a finished run) and, during a run, the vendor's page ``cursor``, so a run that failed resumes from
its page; ``since`` moves only when a run reaches the end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.utils import timezone

from connectors.base import ConnectorError
from connectors.inbound import (
    Counts,
    ProcessSummary,
    guarded_call,
    inbound_config,
    inbound_events_store,
    inbound_process_pending,
    outcome_rules_for,
)
from connectors.inbound_vendors import INBOUND
from connectors.models import Connection, InboundChannel, SyncCursor
from connectors.registry import connector_for

logger = logging.getLogger(__name__)

#: Pages read per run and kind before stopping (the next run continues from the stored cursor).
MAX_PAGES = 200


@dataclass
class SyncSummary(Counts):
    pages: int = 0
    records: int = 0
    new_events: int = 0
    processed: int = 0
    ignored_stale: int = 0
    failed: int = 0
    errors: int = 0


def sync_kinds(connection: Connection) -> tuple[str, ...]:
    """The kinds of our records the connection's vendor can be synced for."""
    inbound = INBOUND.get(connection.vendor)
    return (*inbound.kinds, *inbound.signal_kinds) if inbound else ()


def sync_run(*, connection: Connection, kind: str, max_pages: int = MAX_PAGES) -> SyncSummary:
    """Read ``kind`` records changed since the connection's cursor and apply them; safe to repeat.

    A vendor error ends the run and is kept in ``SyncCursor.last_error`` (the cursor stays where the
    last good page left it); it is logged and reported, not raised.
    """
    if kind not in sync_kinds(connection):
        raise ValueError(f"{connection.vendor} records of kind {kind!r} are not synced")
    state, _ = SyncCursor.objects.get_or_create(connection=connection, kind=kind)
    # The lead fields the outcome mapping reads are read too (e.g. Salesforce's IsConverted).
    rules = outcome_rules_for(connection) if kind == "lead" else None
    connector = connector_for(inbound_config(connection, rules))
    summary = SyncSummary()
    since, cursor = state.since, state.cursor or None
    newest = since
    error = ""
    inbound = INBOUND[connection.vendor]
    while summary.pages < max_pages:
        try:
            page = guarded_call(
                connection, partial(connector.changed_since, kind, since=since, cursor=cursor)
            )
        except ConnectorError as exc:
            error = str(exc)[:2000]
            logger.warning("sync of %s %s stopped: %s", connection.name, kind, exc)
            summary.errors += 1
            break
        summary.pages += 1
        summary.records += len(page.records)
        events = [inbound.record_event(record) for record in page.records]
        stored = inbound_events_store(
            connection=connection, events=events, channel=InboundChannel.SYNC, notify=False
        )
        summary.new_events += stored.new
        stamps = [e.modified_at for e in events if e.modified_at is not None]
        if stamps:
            newest = max([*stamps, *([newest] if newest else [])])
        cursor = page.next_cursor
        _save(state, since=since, cursor=cursor or "", error="")
        if cursor is None:
            break
    applied = inbound_process_pending(connection_id=connection.pk)
    _count(summary, applied)
    finished = cursor is None and not error
    _save(state, since=newest if finished else since, cursor=cursor or "", error=error)
    return summary


def _save(state: SyncCursor, *, since: object, cursor: str, error: str) -> None:
    state.since = since  # type: ignore[assignment]
    state.cursor = cursor
    state.last_error = error
    state.last_run_at = timezone.now()
    with transaction.atomic():
        state.save(update_fields=["since", "cursor", "last_error", "last_run_at", "updated_at"])


def _count(summary: SyncSummary, applied: ProcessSummary) -> None:
    summary.processed += applied.processed
    summary.ignored_stale += applied.ignored_stale
    summary.failed += applied.failed


def sync_all(*, connection_name: str | None = None, kind: str | None = None) -> SyncSummary:
    """Sync every active connection (or one, by name) for every kind it has (or one)."""
    connections = Connection.objects.filter(is_active=True)
    if connection_name is not None:
        connections = connections.filter(name=connection_name)
    total = SyncSummary()
    for connection in connections:
        for each in sync_kinds(connection):
            if kind is None or each == kind:
                total.add(sync_run(connection=connection, kind=each))
    return total
