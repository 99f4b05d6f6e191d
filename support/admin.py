from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from support.models import IntentPolicy, Ticket


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "source",
        "external_id",
        "status",
        "priority",
        "intent_label",
        "predicted_intent",
        "updated_at",
    ]
    list_filter = ["source", "status", "priority", "channel"]
    search_fields = ["=external_id", "subject", "intent_label"]
    raw_id_fields = ["account"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False


@admin.register(IntentPolicy)
class IntentPolicyAdmin(SimpleHistoryAdmin):
    """Per-intent thresholds and safety flags; every change is kept in the history (who, when, what).
    The what-if page (support/thresholds/) shows what a threshold would have done on labelled data."""

    list_display = ["intent", "threshold", "is_safe", "requires_human", "updated_at"]
    list_editable = ["threshold", "is_safe", "requires_human"]
    list_filter = ["is_safe", "requires_human"]
    search_fields = ["intent", "notes"]
    readonly_fields = ["created_at", "updated_at"]
    list_per_page = 100
