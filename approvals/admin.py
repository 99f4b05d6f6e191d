from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from approvals.admin_mixins import ChangeControlledAdmin
from approvals.models import ApprovalPolicy, Decision, EscalationStep, ProposedAction
from approvals.scoping import actions_scoped
from security.admin_mixins import PersonalDataAdminMixin
from security.scoping import scoped_object_or_404


class ScopedActionsAdminMixin:
    """Lists and opens only what the approval queue would show the user (``security.selectors``):
    an SDR manager sees the sales items of their teams here too. An id outside the scope answers
    404 and the attempt is recorded, as on the pages and the API."""

    def scoped(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return actions_scoped(user=request.user, queryset=queryset)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return self.scoped(request, super().get_queryset(request))  # type: ignore[misc]

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        if from_field is not None:
            return super().get_object(request, object_id, from_field)  # type: ignore[misc]
        return scoped_object_or_404(request=request, scoped=self.get_queryset(request), pk=object_id)


class DecisionInline(admin.TabularInline):
    model = Decision
    extra = 0
    can_delete = False
    fields = ["outcome", "decided_by", "reason_code", "comment", "created_at"]
    readonly_fields = ["outcome", "decided_by", "reason_code", "comment", "created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ProposedAction)
class ProposedActionAdmin(ScopedActionsAdminMixin, PersonalDataAdminMixin, admin.ModelAdmin):
    """Read-only: decisions are taken in the approval UI and API, where the rules are enforced, and
    nothing here may move what oversight rests on (approvals needed, approver group, SLA, status,
    the approved hash …). A change form that saved any of it would bypass the policy and four-eyes."""

    list_display = ["id", "kind", "domain", "status", "risk_level", "confidence", "proposed_by", "created_at"]
    list_filter = ["status", "domain", "kind", "risk_level"]
    search_fields = ["=idempotency_key", "=correlation_id", "matched_rule"]
    raw_id_fields = ["lead", "ticket", "model_version", "proposed_by_user"]
    readonly_fields = [
        "kind", "domain", "lead", "ticket", "target_system", "payload", "rationale", "confidence",
        "risk_level", "status", "idempotency_key", "correlation_id", "model_version", "proposed_by",
        "proposed_by_user", "matched_rule", "approved_payload_sha256", "decided_at", "executed_at",
        "created_at", "updated_at", "callback_url", "callback_attempts", "callback_delivered_at",
        "callback_last_error",
    ]  # fmt: skip
    personal_fields = ["payload"]  # its "to" and names; staff without the permission see none of it
    inlines = [DecisionInline]
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Every field, including any added later: none is edited here.
        return [
            *self.readonly_fields,
            *(f.name for f in self.model._meta.fields if f.name not in self.readonly_fields),
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Decision)
class DecisionAdmin(ScopedActionsAdminMixin, PersonalDataAdminMixin, admin.ModelAdmin):
    list_display = ["action", "outcome", "decided_by", "reason_code", "created_at"]
    list_filter = ["outcome", "reason_code"]
    list_select_related = ["action", "decided_by"]
    personal_fields = ["original_payload", "final_payload", "payload_diff"]
    readonly_fields = [
        "action",
        "outcome",
        "decided_by",
        "reason_code",
        "comment",
        "original_payload",
        "final_payload",
        "payload_diff",
        "payload_sha256",
        "time_to_decide",
        "model_version",
        "created_at",
    ]

    def scoped(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(action__in=actions_scoped(user=request.user).values("pk"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(ChangeControlledAdmin, SimpleHistoryAdmin):
    list_display = ["name", "outcome", "priority", "is_active", "approver_group", "sla_minutes", "updated_at"]
    list_filter = ["outcome", "is_active"]
    search_fields = ["name", "description"]


@admin.register(EscalationStep)
class EscalationStepAdmin(SimpleHistoryAdmin):
    list_display = ["group", "escalate_to", "sla_minutes", "updated_at"]
