"""System checks of the task-run ledger.

``task_lease_check`` runs at every startup (``qcluster``, ``runserver``, ``check``) and reads only
settings: a check that opened a database connection in ``qcluster``'s parent process would hand that
one connection to every forked worker and the monitor, which then read each other's answers.
``task_lease_stored_check`` reads the lease an admin stored; it is a ``database`` check, run by
``migrate`` and ``check --database default`` (the deployment runbook runs it), and every claim
refuses a lease it would report anyway."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError

from taskruns.lease import LEASE_OUTLIVED, LEASE_REMEDY, lease_refusal


def _lease_errors(lease_seconds: int) -> list[checks.CheckMessage]:
    from taskruns.ledger import worker_timeout

    refusal = lease_refusal(timeout=worker_timeout(), lease_seconds=lease_seconds)
    if refusal is None:
        return []
    return [checks.Error(refusal, hint=f"{LEASE_OUTLIVED}; {LEASE_REMEDY}", id="taskruns.E001")]


@checks.register()
def task_lease_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Q_TIMEOUT must be shorter than the default task-run lease (``taskruns.E001``); every claim
    refuses otherwise, so a worker started with it would run no ledgered task at all."""
    from taskruns.models import TaskSettings

    if kwargs.get("databases"):
        return []  # ``task_lease_stored_check`` checks the lease actually stored
    return _lease_errors(TaskSettings._meta.get_field("lease_seconds").default)


@checks.register(checks.Tags.database)
def task_lease_stored_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The same against the lease stored in the task settings (``taskruns.E001``)."""
    from taskruns.models import TaskSettings

    if not kwargs.get("databases"):
        return []  # only when asked to read the database (``migrate``, ``check --database``)
    try:
        stored = TaskSettings.objects.filter(singleton=True).values_list("lease_seconds", flat=True).first()
    except DatabaseError:  # not migrated yet: the row will get the field's default
        stored = None
    return _lease_errors(
        stored if stored is not None else TaskSettings._meta.get_field("lease_seconds").default
    )
