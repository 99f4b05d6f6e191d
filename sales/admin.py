from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from sales.models import Account, Lead, LeadEvent, SdrQueue


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "industry", "size_band", "region", "account_value", "source"]
    list_filter = ["source", "industry", "size_band", "region"]
    search_fields = ["name", "domain", "=external_id"]


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "company_name",
        "source",
        "external_id",
        "status",
        "owner",
        "consent_state",
        "outcome",
        "updated_at",
    ]
    list_filter = ["source", "status", "consent_state", "outcome", "has_open_opportunity"]
    search_fields = ["=external_id", "last_name", "company_name", "=email", "=salesforce_id", "=hubspot_id"]
    list_select_related = ["owner"]
    raw_id_fields = ["account", "owner"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False


@admin.register(LeadEvent)
class LeadEventAdmin(admin.ModelAdmin):
    list_display = ["lead", "kind", "occurred_at"]
    list_filter = ["kind"]
    raw_id_fields = ["lead"]
    list_select_related = ["lead"]
    show_full_result_count = False


@admin.register(SdrQueue)
class SdrQueueAdmin(SimpleHistoryAdmin):
    list_display = ["name", "is_active", "updated_at"]
    filter_horizontal = ["members"]
