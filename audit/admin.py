from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import DecisionLogEntry


@admin.register(DecisionLogEntry)
class DecisionLogEntryAdmin(admin.ModelAdmin):
    """Searchable and read-only: the log is append-only, so nothing here can change it."""

    list_display = [
        "timestamp",
        "event_type",
        "actor",
        "subject_type",
        "subject_id",
        "model_version",
        "environment",
    ]
    list_filter = ["event_type", "environment"]
    search_fields = ["=event_id", "=correlation_id", "actor", "=subject_id"]
    date_hierarchy = "timestamp"
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in DecisionLogEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
