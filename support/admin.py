from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from core.admin_readonly import LogAdmin
from security.admin_mixins import PersonalDataAdminMixin
from security.masking import mask_text
from support.choices import ArticleStatus, ResolvedBy
from support.models import (
    Article,
    BotRun,
    HandoffRoute,
    IntentCorrection,
    IntentPolicy,
    ReplyFragment,
    SupportSettings,
    SurveyResponse,
    Ticket,
)
from support.services import ArticleError, article_publish, ticket_resolve


@admin.register(Ticket)
class TicketAdmin(PersonalDataAdminMixin, admin.ModelAdmin):
    personal_fields = ["body", "requester_name", "requester_email"]
    list_display = [
        "summary",
        "source",
        "external_id",
        "status",
        "priority",
        "intent_label",
        "predicted_intent",
        "resolved_by",
        "updated_at",
    ]
    list_filter = ["source", "status", "priority", "channel", "resolved_by"]
    search_fields = ["=external_id", "subject", "intent_label"]
    raw_id_fields = ["account"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False
    actions = ["mark_resolved_by_human"]

    @admin.display(description="Ticket")
    def summary(self, obj: Ticket) -> str:
        # The list never quotes the customer's text; the change form shows it to those who may see it.
        return obj.subject or mask_text(obj.body)

    @admin.action(description="Mark resolved by a person (now)")
    def mark_resolved_by_human(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            ticket_resolve(ticket_id=pk, by=ResolvedBy.HUMAN)
        self.message_user(request, f"{queryset.count()} tickets marked resolved.")


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


class ReplyFragmentInline(admin.StackedInline):
    model = ReplyFragment
    extra = 0

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A published (or retired) version is frozen: replies name it, so it must say what was sent.
        return obj is None or (
            obj.status == ArticleStatus.DRAFT and super().has_change_permission(request, obj)
        )

    has_add_permission = has_change_permission
    has_delete_permission = has_change_permission


@admin.register(Article)
class ArticleAdmin(SimpleHistoryAdmin):
    """Knowledge-base article versions. Write a new version as a draft, then publish it (the previous
    published version is retired); only published versions are used by the bot."""

    list_display = ["intent", "version", "title", "status", "needs_account_lookup", "published_at"]
    list_filter = ["status", "needs_account_lookup"]
    search_fields = ["intent", "title"]
    readonly_fields = ["status", "published_at", "created_at", "updated_at"]
    inlines = [ReplyFragmentInline]
    actions = ["publish"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None and obj.status != ArticleStatus.DRAFT:
            return [f.name for f in Article._meta.fields]
        return list(self.readonly_fields)

    @admin.action(description="Publish the selected drafts")
    def publish(self, request: HttpRequest, queryset: QuerySet[Article]) -> None:
        for article in queryset:
            try:
                article_publish(article_id=article.pk)
            except ArticleError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
            else:
                self.message_user(request, f"{article.label} published.")


@admin.register(BotRun)
class BotRunAdmin(admin.ModelAdmin):
    """What the bot did with each ticket (read-only)."""

    list_display = ["ticket", "outcome", "intent", "confidence", "article", "model_version", "created_at"]
    list_filter = ["outcome"]
    search_fields = ["intent", "=ticket__external_id"]
    list_select_related = ["ticket", "article", "model_version"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[BotRun]:
        return super().get_queryset(request).defer("model_version__artifact", "model_version__reference")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SurveyResponse)
class SurveyResponseAdmin(PersonalDataAdminMixin, admin.ModelAdmin):
    personal_fields = ["comment"]
    """CSAT survey answers, one per ticket (1–5)."""

    list_display = ["ticket", "score", "responded_at"]
    list_filter = ["score"]
    raw_id_fields = ["ticket"]
    search_fields = ["=ticket__external_id"]


@admin.register(HandoffRoute)
class HandoffRouteAdmin(SimpleHistoryAdmin):
    """Where the support bot hands tickets off to, per intent, team, language and helpdesk; every
    change is kept in the history. The most specific active route wins (``support.handoff``)."""

    list_display = [
        "name", "intent", "team", "language", "source", "group", "assignee", "queue", "priority", "order",
        "is_active",
    ]  # fmt: skip
    list_editable = ["order", "is_active"]
    list_filter = ["source", "language", "is_active", "priority"]
    search_fields = ["name", "intent", "team", "queue", "group"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(SupportSettings)
class SupportSettingsAdmin(SimpleHistoryAdmin):
    """Follow-up window for first-contact resolution, the pre-automation baseline and the handoff queue."""

    list_display = ["__str__", "followup_window_hours", "baseline_start", "baseline_end", "handoff_queue"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not SupportSettings.objects.exists()


@admin.register(IntentCorrection)
class IntentCorrectionAdmin(LogAdmin):
    """Read-only: corrections are made on the ticket's page (``intent_correction_record``, which logs
    them) and are the intent model's training data; the admin only lists them."""

    list_display = [
        "ticket",
        "predicted",
        "confidence",
        "corrected",
        "corrected_by",
        "model_version",
        "created_at",
    ]
    list_filter = ["corrected"]
    search_fields = ["=ticket__external_id", "corrected", "predicted"]
    list_select_related = ["ticket", "corrected_by"]
