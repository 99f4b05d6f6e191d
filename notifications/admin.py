from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from core.admin_readonly import LogAdmin
from notifications.models import (
    ApprovalLink,
    Notification,
    NotificationSettings,
    SlackCard,
    SlackChannelRoute,
    SlackUserLink,
)


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(SimpleHistoryAdmin):
    """One row: who is told what, and where. Every change is kept in its history."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    list_display = ["__str__", "enabled", "email_enabled", "high_priority_risk_at_least",
                    "high_priority_impact_at_least", "near_sla_minutes", "digest_hour_utc", "updated_at"]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["enabled", "email_enabled", "email_link_hours", "slack_webhook_url", "base_url"]}),
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


@admin.register(ApprovalLink)
class ApprovalLinkAdmin(LogAdmin):
    """Read-only record of the one-click links sent by email, and which were used."""

    list_display = ["created_at", "decision", "action", "user", "expires_at", "used_at"]
    list_filter = ["decision"]
    list_select_related = ["action", "user"]
    search_fields = ["=nonce", "=user__username"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(SlackChannelRoute)
class SlackChannelRouteAdmin(admin.ModelAdmin):
    """Which Slack channel gets the cards of each approver group's items (none: direct messages)."""

    list_display = ["group", "channel_id", "is_active", "updated_at"]
    list_select_related = ["group"]


@admin.register(SlackUserLink)
class SlackUserLinkAdmin(admin.ModelAdmin):
    """Slack users acting as AgentOps users; a link counts once its email match is verified."""

    list_display = ["slack_user_id", "user", "verified_at", "updated_at"]
    list_select_related = ["user"]
    search_fields = ["=slack_user_id", "=user__username"]
    readonly_fields = ["verified_at"]


@admin.register(SlackCard)
class SlackCardAdmin(LogAdmin):
    """Read-only record of the cards posted in Slack, where, and whether they show the decision."""

    list_display = ["created_at", "action", "destination", "channel", "ts", "decided", "error"]
    list_filter = ["decided"]
    list_select_related = ["action"]
    show_full_result_count = False
