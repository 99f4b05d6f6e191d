"""django-q2 tasks: thin wrappers around the operations services (safe to run twice)."""

from __future__ import annotations

from operations.task_runs import ledgered


@ledgered
def autopause_task() -> dict[str, object]:
    from operations.services import autopause_run

    summary = autopause_run()
    return {"checked": summary.checked, "incidents_opened": summary.tripped}


@ledgered
def reap_task_runs_task() -> dict[str, int]:
    """Every minute: retry runs whose worker died or whose attempt failed; give up after the limit."""
    from operations.task_runs import task_runs_reap

    return task_runs_reap().as_dict()
