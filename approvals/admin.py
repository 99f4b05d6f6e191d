from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from approvals.models import ApprovalPolicy, Decision, EscalationStep, ProposedAction
from operations.admin_mixins import ChangeControlledAdmin


class DecisionInline(admin.TabularInline):
    model = Decision
    extra = 0
    can_delete = False
    fields = ["outcome", "decided_by", "reason_code", "comment", "created_at"]
    readonly_fields = ["outcome", "decided_by", "reason_code", "comment", "created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ProposedAction)
class ProposedActionAdmin(admin.ModelAdmin):
    """Read-mostly: decisions are taken in the approval UI and API, where the rules are enforced."""

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
    inlines = [DecisionInline]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ["action", "outcome", "decided_by", "reason_code", "created_at"]
    list_filter = ["outcome", "reason_code"]
    list_select_related = ["action", "decided_by"]
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

    def has_add_permission(self, request: HttpRequest) -> bool:
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
