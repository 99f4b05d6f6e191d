"""System checks of the operations app, run at startup (``qcluster``, ``runserver``, ``check``)."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError

from operations.task_lease import LEASE_OUTLIVED, LEASE_REMEDY, lease_refusal


@checks.register()
def task_lease_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Q_TIMEOUT must be shorter than the task-run lease (``operations.E001``); every claim refuses
    otherwise, so a worker started with it would run no ledgered task at all."""
    from operations.models import TaskSettings
    from operations.task_runs import worker_timeout

    try:
        row = TaskSettings.objects.filter(singleton=True).values_list("lease_seconds", flat=True).first()
    except DatabaseError:  # not migrated yet (CI's `check`): the row will get the field's default
        row = None
    lease = row if row is not None else TaskSettings._meta.get_field("lease_seconds").default
    refusal = lease_refusal(timeout=worker_timeout(), lease_seconds=lease)
    if refusal is None:
        return []
    return [checks.Error(refusal, hint=f"{LEASE_OUTLIVED}; {LEASE_REMEDY}", id="operations.E001")]
