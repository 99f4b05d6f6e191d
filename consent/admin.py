from __future__ import annotations

from django.contrib import admin

from consent.models import ConsentRecord
from core.admin_readonly import LogAdmin


@admin.register(ConsentRecord)
class ConsentRecordAdmin(LogAdmin):
    """Read-only: consent is recorded through the API, webhooks, imports and erasure, and kept as proof."""

    list_display = ("recorded_at", "lead", "channel", "status", "lawful_basis", "source", "recorded_by")
    list_filter = ("channel", "status", "lawful_basis", "source")
    list_select_related = ("lead",)
    raw_id_fields = ("lead",)
    search_fields = ("=lead__id", "=email_key", "recorded_by")
    date_hierarchy = "recorded_at"
