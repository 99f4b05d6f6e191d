"""django-q2 tasks: thin wrappers around the operations services (safe to run twice)."""

from __future__ import annotations


def autopause_task() -> dict[str, object]:
    from operations.services import autopause_run

    summary = autopause_run()
    return {"checked": summary.checked, "incidents_opened": summary.tripped}


def config_changes_task() -> dict[str, int]:
    from operations.change_control import config_changes_apply

    return config_changes_apply()
