from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from operations.models import KillSwitch, Quota
from operations.services import kill_switch_set


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
class QuotaAdmin(SimpleHistoryAdmin):
    list_display = ["name", "scope", "target", "window", "limit", "is_active", "updated_at"]
    list_filter = ["scope", "window", "is_active"]
