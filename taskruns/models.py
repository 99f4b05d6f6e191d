"""The task-run ledger's rows: one per task and arguments (``TaskRun``), and how stuck and failing
runs are treated (``TaskSettings``). The tables keep the names they had when the ledger lived in
operations (``operations_taskrun``, ``operations_tasksettings``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from taskruns.choices import TaskRunStatus


class TaskSettings(models.Model):
    """How the task-run ledger treats stuck and failing tasks: one row, edited in the admin with history."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    max_attempts = models.PositiveIntegerField(
        default=3, help_text="Attempts of one run (the first included) before it is marked failed for good."
    )
    lease_seconds = models.PositiveIntegerField(
        default=660,
        help_text="How long a worker holds a run; longer than the worker timeout (Q_TIMEOUT, 600 s), so a "
        "live slow task is never taken over. An expired lease means the worker died: the run is retried.",
    )
    keep_days = models.PositiveIntegerField(
        default=7, help_text="Succeeded runs older than this are deleted by the reaper (failed ones stay)."
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(table_name="operations_historicaltasksettings")

    class Meta:
        db_table = "operations_tasksettings"  # the table it had in operations
        verbose_name = verbose_name_plural = "task settings"
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(singleton=True), name="task_settings_singleton"),
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="task_settings_attempts_positive"),
            models.CheckConstraint(condition=Q(lease_seconds__gte=1), name="task_settings_lease_positive"),
        ]

    def __str__(self) -> str:
        return "Task settings"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from taskruns.lease import LEASE_OUTLIVED, lease_refusal

        timeout = settings.Q_CLUSTER.get("timeout")
        # An unset timeout is reported by the system check and refused by every claim, whatever the lease.
        if (
            self.lease_seconds is not None
            and isinstance(timeout, int)
            and timeout > 0
            and lease_refusal(timeout=timeout, lease_seconds=self.lease_seconds)
        ):
            raise ValidationError(
                {
                    "lease_seconds": f"must be longer than Q_TIMEOUT, the worker timeout ({timeout} s), "
                    f"or {LEASE_OUTLIVED}"
                }
            )


class TaskRun(models.Model):
    """One background task's run in the ledger: claimed with a lease before it runs, its outcome
    recorded after. One row per task and arguments; a new run of the same task reuses the row.

    ``taskruns.ledger`` owns every change: a second claimant while the lease is live skips; the
    reaper retries a run whose lease expired (its worker died) or that raised, up to
    ``TaskSettings.max_attempts`` attempts, then marks it failed for good.
    """

    func = models.CharField(max_length=200, help_text="Dotted path of the task function.")
    key = models.CharField(max_length=64, help_text="SHA-256 of the task's arguments.")
    args = models.JSONField(default=list, blank=True, help_text="Positional arguments, to queue a retry.")
    kwargs = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=TaskRunStatus.choices)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts started in this run.")
    requeues = models.PositiveIntegerField(default=0, help_text="Retries the reaper queued in this run.")
    lease_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Running: the lease's end. Retrying: when the reaper queues it again.",
    )
    token = models.CharField(max_length=32, blank=True, help_text="The current attempt's claim.")
    task_ids = models.JSONField(
        default=list,
        blank=True,
        help_text="django-q task ids of this run (a late duplicate of one is skipped).",
    )
    worker = models.CharField(max_length=100, blank=True, help_text="host:pid of the last claimant.")
    last_error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "operations_taskrun"  # the table it had in operations
        ordering = ["-updated_at", "-id"]
        constraints = [
            # One open or succeeded run per task and arguments; failed runs stay beside it for people.
            models.UniqueConstraint(
                fields=["func", "key"], condition=~Q(status="failed"), name="task_run_one_current_per_key"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["running", "retrying"]) | Q(lease_until__isnull=False),
                name="task_run_live_has_lease",
            ),
        ]
        indexes = [models.Index(fields=["status", "lease_until"])]

    def __str__(self) -> str:
        return f"{self.func.rsplit('.', 1)[-1]} [{self.key[:8]}] {self.status} ({self.attempts} attempts)"
