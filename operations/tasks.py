"""django-q2 tasks: thin wrappers around the operations services (safe to run twice)."""

from __future__ import annotations

from taskruns.ledger import ledgered


@ledgered
def autopause_task() -> dict[str, object]:
    from operations.services import autopause_run

    summary = autopause_run()
    return {"checked": summary.checked, "incidents_opened": summary.tripped}


@ledgered
def reap_task_runs_task() -> dict[str, int]:
    """Every minute: retry runs whose worker died or whose attempt failed; give up after the limit
    (the ledger's reaper; scheduled here, with the other fail-safes, since operations 0013)."""
    from taskruns.ledger import task_runs_reap

    return task_runs_reap().as_dict()
