from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from approvals.admin_mixins import RISK_NOTE_HELP
from approvals.change_control import ChangeRefused, config_change_propose, config_controlled
from scoring.choices import AlertStatus, ModelStatus
from scoring.models import DriftAlert, DriftReport, FeatureSet, LeadScore, ModelVersion, ScoringPolicy


def _actor(request: HttpRequest) -> str:
    return f"user:{request.user.get_username()}"


def promotion_under_change_control(
    request: HttpRequest, queryset: Any, *, action: str, to: str, extra: dict[str, Any]
) -> HttpResponse | None:
    """For a model-promotion admin action while promotions are under change control: ask for the
    risk note on an intermediate page, then propose each promotion. None when not controlled."""
    if to not in ("canary", "champion") or not config_controlled("scoring.ModelVersion"):
        return None
    note = request.POST.get("risk_note", "").strip()
    if "confirm" not in request.POST:
        return TemplateResponse(
            request,
            "admin/operations/risk_note.html",
            {
                "title": f"Propose promotion to {to}",
                "objects": list(queryset),
                "action": action,
                "to": to,
                "selected": helpers.ACTION_CHECKBOX_NAME,
                "help": RISK_NOTE_HELP,
            },
        )
    for version in queryset:
        try:
            proposed = config_change_propose(
                model_label="scoring.ModelVersion",
                object_id=version.pk,
                before={"status": version.status, **{k: None for k in extra}},
                after={"status": to, **extra},
                risk_note=note,
                user=request.user,
                object_repr=str(version),
            )
        except ChangeRefused as exc:
            messages.warning(request, f"{version}: nothing proposed: {exc}")
            continue
        messages.success(
            request, f"Promotion of {version} proposed as #{proposed.pk}; a second person must approve it."
        )
    return HttpResponseRedirect(request.get_full_path())


@admin.register(ModelVersion)
class ModelVersionAdmin(SimpleHistoryAdmin):
    """Registry entries are produced by training; status changes go through the promotion services."""

    list_display = [
        "name",
        "kind",
        "version",
        "status",
        "validation_auc",
        "gate",
        "training_rows",
        "created_at",
    ]
    list_filter = ["kind", "status"]
    search_fields = ["name"]
    readonly_fields = [
        "kind", "name", "version", "status", "canary_share", "feature_set", "artifact_sha256",
        "training_data_hash", "training_data_from", "training_data_to", "training_rows", "feature_spec",
        "hyperparameters", "metrics", "validation", "preprocessing", "library_versions", "last_champion_at",
        "created_by", "created_at", "updated_at",
    ]  # fmt: skip
    exclude = ["reference", "validation_lead_ids"]
    actions = ["validate", "promote_shadow", "promote_canary", "promote_champion", "retire", "rollback"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelVersion]:
        return super().get_queryset(request).defer("artifact", "reference", "validation_lead_ids")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="hold-out AUC")
    def validation_auc(self, obj: ModelVersion) -> str:
        auc = (obj.metrics.get("validation") or {}).get("roc_auc")
        return f"{auc:.4f}" if auc is not None else "—"

    @admin.display(description="gate", boolean=True)
    def gate(self, obj: ModelVersion) -> bool | None:
        return obj.validation.get("passed") if obj.validation else None

    def _each(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion], to: str, **extra: Any
    ) -> HttpResponse | None:
        from core.statemachine import IllegalTransition
        from scoring.services import GateFailed, model_version_promote

        action = request.POST.get("action", "")
        controlled = promotion_under_change_control(request, queryset, action=action, to=to, extra=extra)
        if controlled is not None:
            return controlled

        for version in queryset:
            try:
                model_version_promote(
                    version_id=version.pk,
                    to=to,
                    actor=_actor(request),
                    reason=f"admin action by {request.user}",
                    **extra,
                )
                messages.success(request, f"{version.label} is now {to}.")
            except (GateFailed, IllegalTransition, ValueError) as exc:
                messages.error(request, str(exc))
        return None

    @admin.action(description="Run the validation gate")
    def validate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        from scoring.services import model_version_validate

        for version in queryset:
            result = model_version_validate(version_id=version.pk, actor=_actor(request))
            level = messages.SUCCESS if result.passed else messages.WARNING
            self.message_user(
                request,
                f"{version.label}: " + ("passed" if result.passed else "; ".join(result.failures)),
                level,
            )

    @admin.action(description="Promote to shadow (scores and logs, never acts)")
    def promote_shadow(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        return self._each(request, queryset, ModelStatus.SHADOW)

    @admin.action(description="Promote to canary (acts on 10%% of leads)")
    def promote_canary(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        return self._each(request, queryset, ModelStatus.CANARY, canary_share=0.1)

    @admin.action(description="Promote to champion")
    def promote_champion(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        return self._each(request, queryset, ModelStatus.CHAMPION)

    @admin.action(description="Retire")
    def retire(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._each(request, queryset, ModelStatus.RETIRED)

    @admin.action(description="Roll back to the previous champion (of the selected kinds)")
    def rollback(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        from scoring.services import RollbackUnavailable, model_version_rollback

        for kind in sorted(set(queryset.values_list("kind", flat=True))):
            try:
                restored = model_version_rollback(
                    kind=kind, actor=_actor(request), reason=f"admin action by {request.user}"
                )
                messages.success(request, f"{restored.label} is champion again.")
            except RollbackUnavailable as exc:
                messages.error(request, str(exc))


@admin.register(FeatureSet)
class FeatureSetAdmin(SimpleHistoryAdmin):
    list_display = ["name", "lead_source", "feature_count", "is_active", "updated_at"]
    actions = ["train"]

    @admin.display(description="features")
    def feature_count(self, obj: FeatureSet) -> int:
        return len(obj.features or [])

    @admin.action(description="Train a new model version (background task)")
    def train(self, request: HttpRequest, queryset: QuerySet[FeatureSet]) -> None:
        from scoring.tasks import enqueue_training

        for feature_set in queryset:
            enqueue_training(feature_set.pk, reason=f"admin action by {request.user}")
            self.message_user(
                request, f"Training of '{feature_set}' queued; the new version appears as a candidate."
            )


@admin.register(ScoringPolicy)
class ScoringPolicyAdmin(SimpleHistoryAdmin):
    list_display = ["kind", "hot_threshold", "warm_threshold", "psi_warn", "psi_alert", "updated_at"]
    fieldsets = [
        ("Tiers", {"fields": ["kind", "hot_threshold", "warm_threshold"]}),
        ("Validation gate", {"fields": ["min_auc", "min_auc_margin", "leakage_auc", "max_label_ratio", "min_positive_rate",
                                        "fairness_max_tpr_gap", "fairness_max_fpr_gap", "fairness_min_group_size"]}),
        ("Drift", {"fields": ["psi_warn", "psi_alert", "drift_window_days", "drift_min_sample", "retrain_on_drift"]}),
        ("Score drops", {"fields": ["score_drop_percent", "score_drop_days"]}),
    ]  # fmt: skip


@admin.register(LeadScore)
class LeadScoreAdmin(admin.ModelAdmin):
    list_display = ["lead", "score", "tier", "role", "model_version", "scored_at"]
    list_filter = ["role", "tier"]
    raw_id_fields = ["lead", "model_version"]
    list_select_related = ["lead", "model_version"]
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in LeadScore._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[LeadScore]:
        return super().get_queryset(request).defer("model_version__artifact", "model_version__reference")


@admin.register(DriftReport)
class DriftReportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "model_version", "level", "recent_size"]
    list_filter = ["level"]
    readonly_fields = [
        "model_version",
        "window_start",
        "window_end",
        "recent_size",
        "level",
        "results",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(DriftAlert)
class DriftAlertAdmin(admin.ModelAdmin):
    list_display = ["feature", "model_version", "psi", "status", "created_at", "acknowledged_by"]
    list_filter = ["status"]
    readonly_fields = [
        "model_version",
        "report",
        "feature",
        "psi",
        "statistic",
        "p_value",
        "created_at",
        "acknowledged_by",
    ]
    actions = ["acknowledge", "resolve"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Acknowledge")
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[DriftAlert]) -> None:
        queryset.filter(status=AlertStatus.OPEN).update(
            status=AlertStatus.ACKNOWLEDGED, acknowledged_by=request.user
        )

    @admin.action(description="Resolve")
    def resolve(self, request: HttpRequest, queryset: QuerySet[DriftAlert]) -> None:
        queryset.exclude(status=AlertStatus.RESOLVED).update(status=AlertStatus.RESOLVED)
