"""Run the one outbox poller in a test, as the scheduled executor task does."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from connectors.execution import ExecutionSettings, actions_execute
from connectors.throttle import MemoryStore


def outbox_run(*, now: datetime | None = None, kinds: set[str] | None = None) -> dict[str, int]:
    """Execute every due approved action (of ``kinds``); the count of each outcome. ``now`` is the
    time the executors that work in our own database go by."""
    settings = ExecutionSettings(
        idle_seconds=0.0,
        store=MemoryStore(),
        kinds=frozenset(kinds) if kinds is not None else None,
        clock=(lambda: now) if now is not None else timezone.now,
    )
    return actions_execute(settings=settings).counts
