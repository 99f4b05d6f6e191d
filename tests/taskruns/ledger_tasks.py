"""Ledgered tasks for the task-run ledger's tests; importable by a qcluster child process too.

Each leaves its effect in the decision log (subject ``drill``/<name>), which is append-only, so an
effect made twice shows as two entries.
"""

from __future__ import annotations

import time
from pathlib import Path

from audit.choices import EventType
from audit.models import DecisionLogEntry
from audit.services import decision_log_append
from taskruns.ledger import ledgered


def effects(name: str, *, what: str = "effect") -> int:
    return DecisionLogEntry.objects.filter(subject_type="drill", subject_id=name, outcome__what=what).count()


def _record(name: str, what: str) -> None:
    decision_log_append(
        event_type=EventType.OUTCOME_RECORDED,
        actor="task:drill",
        subject_type="drill",
        subject_id=name,
        outcome={"what": what},
    )


@ledgered
def effect_after_hold_task(name: str, hold_file: str = "") -> str:
    """Marks that it started, waits while ``hold_file`` exists (so a test can kill it mid-task), then
    makes its one effect."""
    _record(name, "started")
    hold = Path(hold_file) if hold_file else None
    deadline = time.monotonic() + 120
    while hold is not None and hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    _record(name, "effect")
    return name


@ledgered
def always_fails_task(name: str) -> None:
    """Marks each attempt that started, then raises."""
    _record(name, "started")
    raise RuntimeError(f"drill {name}: the vendor said no")
