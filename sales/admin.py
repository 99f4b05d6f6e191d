from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from simple_history.admin import SimpleHistoryAdmin

from sales.models import Account, Lead, LeadEvent, Playbook, PlaybookRule, SdrQueue
from sales.selectors import RulePreview, playbook_rule_preview


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


@admin.register(Playbook)
class PlaybookAdmin(SimpleHistoryAdmin):
    list_display = ["name", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]


def _preview_words(rule: PlaybookRule, preview: RulePreview) -> str:
    return f"“{rule.name}” would fire for {preview.leads} leads now ({preview.proposals} proposals)"


@admin.register(PlaybookRule)
class PlaybookRuleAdmin(SimpleHistoryAdmin):
    """Rules are data: edited here with history; a bad spec is refused naming its field (``clean``)."""

    list_display = ["name", "playbook", "priority", "is_active", "stop_processing", "updated_at"]
    list_filter = ["playbook", "is_active"]
    list_select_related = ["playbook"]
    search_fields = ["name"]
    readonly_fields = ["dry_run_preview", "created_at", "updated_at"]
    fields = [
        "playbook", "name", "priority", "is_active", "stop_processing", "conditions", "actions",
        "dry_run_preview", "created_at", "updated_at",
    ]  # fmt: skip
    actions = ["preview"]

    @admin.display(description="Dry run")
    def dry_run_preview(self, obj: PlaybookRule) -> str:
        """What the saved rule would do now, without creating anything."""
        if obj.pk is None:
            return "Save the rule to preview it."
        preview = playbook_rule_preview(rule=obj)
        sample = format_html_join(", ", "{}", ((name,) for _, name in preview.sample[:5]))
        return (
            f"{_preview_words(obj, preview)}; e.g. {sample}"
            if preview.sample
            else _preview_words(obj, preview)
        )

    @admin.action(description="Preview: how many leads would these rules fire for now?")
    def preview(self, request: HttpRequest, queryset: QuerySet[PlaybookRule]) -> None:
        for rule in queryset:
            self.message_user(request, _preview_words(rule, playbook_rule_preview(rule=rule)), messages.INFO)
