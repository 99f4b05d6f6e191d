from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from core.admin_readonly import LogAdmin
from notifications.models import Notification, NotificationSettings


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(SimpleHistoryAdmin):
    """One row: who is told what, and where. Every change is kept in its history."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    list_display = ["__str__", "enabled", "email_enabled", "high_priority_risk_at_least",
                    "high_priority_impact_at_least", "near_sla_minutes", "digest_hour_utc", "updated_at"]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["enabled", "email_enabled", "slack_webhook_url", "base_url"]}),
        ("High priority", {"fields": ["high_priority_risk_at_least", "high_priority_impact_at_least"]}),
        ("Timing", {"fields": ["near_sla_minutes", "digest_hour_utc"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not NotificationSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(LogAdmin):
    """Read-only record of what was sent to whom, and what failed."""

    list_display = ["created_at", "kind", "channel", "address", "action", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind", "channel"]
    list_select_related = ["action"]
    search_fields = ["=address", "=dedupe_key", "subject"]
    date_hierarchy = "created_at"
    show_full_result_count = False
