from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from approvals.admin_mixins import ChangeControlledAdmin
from operations.models import (
    AutoPauseRule,
    ChangeControl,
    CostSettings,
    Incident,
    IncidentEvent,
    KillSwitch,
    Quota,
    ServiceLevelObjective,
)
from operations.services import SwitchError, incident_resolve, kill_switch_set


@admin.register(KillSwitch)
class KillSwitchAdmin(SimpleHistoryAdmin):
    """Switched through the actions below (so each change is logged with who and why)."""

    list_display = ["scope", "target", "engaged", "reason", "changed_by", "changed_at"]
    list_filter = ["scope", "engaged"]
    readonly_fields = ["engaged", "changed_by", "changed_at", "created_at", "updated_at"]
    actions = ["engage", "release"]

    def save_model(self, request: HttpRequest, obj: KillSwitch, form: object, change: bool) -> None:
        # Creating or editing goes through the service, so the log entry is never skipped.
        kill_switch_set(
            scope=obj.scope,
            target=obj.target,
            engaged=obj.engaged,
            actor=request.user.get_username(),
            reason=obj.reason or "edited in the admin",
        )

    def _switch(self, request: HttpRequest, queryset: QuerySet[KillSwitch], engaged: bool) -> None:
        for switch in queryset:
            kill_switch_set(
                scope=switch.scope,
                target=switch.target,
                engaged=engaged,
                actor=request.user.get_username(),
                reason=f"{'engaged' if engaged else 'released'} in the admin",
            )
        self.message_user(
            request,
            f"{'Engaged' if engaged else 'Released'} {queryset.count()} switch(es).",
            messages.WARNING,
        )

    @admin.action(description="Engage: stop automated execution in these scopes now")
    def engage(self, request: HttpRequest, queryset: QuerySet[KillSwitch]) -> None:
        self._switch(request, queryset, True)

    @admin.action(description="Release: let held work run again")
    def release(self, request: HttpRequest, queryset: QuerySet[KillSwitch]) -> None:
        self._switch(request, queryset, False)


@admin.register(Quota)
class QuotaAdmin(ChangeControlledAdmin, SimpleHistoryAdmin):
    list_display = ["name", "scope", "target", "window", "limit", "is_active", "updated_at"]
    list_filter = ["scope", "window", "is_active"]
    # Authorship is a record, not a setting (and not a field change control may set).
    readonly_fields = ["created_by"]


@admin.register(AutoPauseRule)
class AutoPauseRuleAdmin(ChangeControlledAdmin, SimpleHistoryAdmin):
    list_display = [
        "name",
        "metric",
        "threshold",
        "window_minutes",
        "switch_scope",
        "switch_target",
        "is_active",
    ]
    list_filter = ["metric", "is_active"]


class IncidentEventInline(admin.TabularInline):
    model = IncidentEvent
    extra = 0
    can_delete = False
    fields = ["at", "actor", "text"]
    readonly_fields = ["at", "actor", "text"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    """Opened by auto-pause rules; resolved here by a person (an explicit step, logged)."""

    list_display = ["__str__", "status", "opened_at", "resolved_at", "resolved_by"]
    list_filter = ["status", "rule"]
    readonly_fields = [
        "title", "rule", "status", "trigger", "actions_taken", "switch", "runbook_url",
        "opened_at", "resolved_at", "resolved_by", "resolution",
    ]  # fmt: skip
    inlines = [IncidentEventInline]
    actions = ["resolve_and_release", "resolve_keep_switch"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _resolve(self, request: HttpRequest, queryset: QuerySet[Incident], release: bool) -> None:
        for incident in queryset:
            try:
                incident_resolve(
                    incident_id=incident.pk,
                    actor=request.user.get_username(),
                    resolution=f"resolved in the admin by {request.user.get_username()}",
                    release_switch=release,
                )
            except SwitchError as exc:
                self.message_user(request, str(exc), messages.WARNING)

    @admin.action(description="Resolve and release the kill switch (held work runs again)")
    def resolve_and_release(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._resolve(request, queryset, True)

    @admin.action(description="Resolve, keeping the kill switch engaged")
    def resolve_keep_switch(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._resolve(request, queryset, False)


@admin.register(ServiceLevelObjective)
class ServiceLevelObjectiveAdmin(SimpleHistoryAdmin):
    list_display = ["name", "kpi", "objective", "window_days", "is_active", "updated_at"]


@admin.register(ChangeControl)
class ChangeControlAdmin(SimpleHistoryAdmin):
    """Which configurations need a second person's approval before a change takes effect."""

    list_display = ["model_label", "requires_second_person", "updated_at"]
    list_editable = ["requires_second_person"]
    readonly_fields = ["model_label"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CostSettings)
class CostSettingsAdmin(SimpleHistoryAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return not CostSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
