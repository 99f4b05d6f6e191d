from django.contrib import admin

from support.models import Ticket


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
