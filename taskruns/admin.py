from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from taskruns.models import TaskRun, TaskSettings


@admin.register(TaskSettings)
class TaskSettingsAdmin(SimpleHistoryAdmin):
    """Attempts per task run, the lease, and how long succeeded runs are kept (with history)."""

    list_display = ["__str__", "max_attempts", "lease_seconds", "keep_days", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not TaskSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    """The task-run ledger: read-only (the ledger and the reaper own every change). Failed runs are
    never retried; a person reads the error, fixes the cause and deletes the row (docs/runbooks.md)."""

    list_display = ["func", "short_key", "status", "attempts", "requeues", "worker", "lease_until", "error"]
    list_filter = ["status", "func"]
    search_fields = ["func", "last_error", "key"]
    readonly_fields = [
        "func", "key", "args", "kwargs", "status", "attempts", "requeues", "lease_until", "token",
        "task_ids", "worker", "last_error", "started_at", "finished_at", "created_at", "updated_at",
    ]  # fmt: skip

    @admin.display(description="key")
    def short_key(self, obj: TaskRun) -> str:
        return obj.key[:8]

    @admin.display(description="last error")
    def error(self, obj: TaskRun) -> str:
        lines = [line for line in obj.last_error.strip().splitlines() if line.strip()]
        return lines[-1][:200] if lines else ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
