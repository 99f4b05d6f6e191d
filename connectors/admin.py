import json
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from approvals.choices import ActionKind
from connectors.models import (
    ActionExecution,
    ActionRoute,
    Connection,
    ExecutionAttempt,
    FieldOwnership,
    OutcomeMapping,
    SyncConflict,
    SyncCursor,
    ThrottleState,
    WebhookEvent,
)
from security.admin_mixins import PersonalDataAdminMixin
from security.masking import mask_mapping


class ConnectionForm(forms.ModelForm):
    """Credentials are write-only: typed in as JSON, stored encrypted, never shown again."""

    base_url = forms.URLField(
        max_length=500, assume_scheme="https", help_text="API base URL, e.g. https://api.hubapi.com"
    )
    new_credentials = forms.CharField(
        label="Credentials",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text='JSON object, e.g. {"access_token": "…"}. Leave empty to keep the stored credentials; '
        "enter {} to remove them.",
    )
    write_scopes = forms.MultipleChoiceField(
        choices=ActionKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Action kinds this connection may write. None ticked: read-only.",
    )

    class Meta:
        model = Connection
        fields = ["name", "vendor", "base_url", "timeout_seconds", "options", "write_scopes", "is_active"]

    def clean_new_credentials(self) -> dict[str, str] | None:
        raw = self.cleaned_data["new_credentials"].strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            raise forms.ValidationError("Not valid JSON.") from None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise forms.ValidationError("A JSON object of strings.")
        return value

    def save(self, commit: bool = True) -> Connection:
        connection = super().save(commit=False)
        credentials = self.cleaned_data.get("new_credentials")
        if credentials is not None:
            connection.set_credentials(credentials)
        if commit:
            connection.save()
        return connection


@admin.register(Connection)
class ConnectionAdmin(SimpleHistoryAdmin):
    form = ConnectionForm
    list_display = ["name", "vendor", "base_url", "is_active", "write_scope_count", "updated_at"]
    list_filter = ["vendor", "is_active"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["stored_credentials", "created_at", "updated_at"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["name", "vendor", "base_url", "stored_credentials", "new_credentials", "timeout_seconds"]
        return [*fields, "options", "write_scopes", "is_active", "created_at", "updated_at"]

    @admin.display(description="Stored credentials")
    def stored_credentials(self, obj: Connection) -> str:
        return obj.masked_credentials()

    @admin.display(description="Write scopes")
    def write_scope_count(self, obj: Connection) -> str:
        return str(len(obj.write_scopes)) if obj.write_scopes else "read-only"


@admin.register(ThrottleState)
class ThrottleStateAdmin(admin.ModelAdmin):
    """Read-only: the breakers and rate windows are written by the workers, never by hand."""

    list_display = ["key", "data", "updated_at"]
    search_fields = ["key"]
    readonly_fields = ["key", "data", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the inbound services only; the admin shows them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    personal_fields = ["payload", "raw_body"]
    list_display = ["event_id", "connection", "channel", "topic", "entity_kind", "entity_id", "status", "deliveries", "attempts", "received_at"]  # fmt: skip
    list_filter = ["status", "vendor", "channel", "entity_kind"]
    search_fields = ["event_id", "entity_id"]
    list_select_related = ["connection"]
    date_hierarchy = "received_at"


@admin.register(FieldOwnership)
class FieldOwnershipAdmin(SimpleHistoryAdmin):
    """Who owns each field decides inbound conflicts; every change is kept in the history."""

    list_display = ["record_kind", "field_name", "owner", "rule", "updated_at"]
    list_filter = ["record_kind", "owner", "rule"]
    search_fields = ["field_name"]


@admin.register(OutcomeMapping)
class OutcomeMappingAdmin(SimpleHistoryAdmin):
    """Which CRM values mean converted or lost, and the deal value field: the lead model's labels
    come from here, so every change is kept in the history (who, when, before and after)."""

    list_display = ["__str__", "vendor", "connection", "converted_field", "lost_field", "deal_value_field"]
    list_filter = ["vendor"]
    list_select_related = ["connection"]
    fieldsets = [
        (None, {"fields": ["vendor", "connection", "notes"]}),
        ("Converted", {"fields": ["converted_field", "converted_values", "converted_time_field"]}),
        ("Lost", {"fields": ["lost_field", "lost_values", "lost_time_field"]}),
        ("Deal value", {"fields": ["deal_value_field"]}),
        (
            "Deals (HubSpot deals, Salesforce opportunities)",
            {
                "fields": [
                    "deal_won_field",
                    "deal_won_values",
                    "deal_won_time_field",
                    "deal_lost_field",
                    "deal_lost_values",
                    "deal_lost_time_field",
                    "deal_amount_field",
                ]
            },
        ),
    ]


@admin.register(SyncConflict)
class SyncConflictAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["created_at", "connection", "record_kind", "record_id", "field_name", "ours_shown", "theirs_shown", "kept"]  # fmt: skip
    personal_fields = ["ours", "theirs"]
    list_filter = ["record_kind", "field_name", "kept"]
    search_fields = ["vendor_id", "field_name"]
    list_select_related = ["connection"]

    # The list shows the values of a personal field (an email, a phone) masked, whoever looks.
    @admin.display(description="Ours")
    def ours_shown(self, obj: SyncConflict) -> Any:
        return mask_mapping({obj.field_name: obj.ours})[obj.field_name]

    @admin.display(description="Theirs")
    def theirs_shown(self, obj: SyncConflict) -> Any:
        return mask_mapping({obj.field_name: obj.theirs})[obj.field_name]


@admin.register(SyncCursor)
class SyncCursorAdmin(ReadOnlyAdmin):
    list_display = ["connection", "kind", "since", "last_run_at", "last_error"]
    list_select_related = ["connection"]


# Outbound execution ----------------------------------------------------------------------------------
class ActionRouteForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=ActionKind.choices, help_text="The action kind this route sends.")

    class Meta:
        model = ActionRoute
        fields = ["kind", "domain", "connection", "is_active", "notes"]


@admin.register(ActionRoute)
class ActionRouteAdmin(SimpleHistoryAdmin):
    """Which connection executes each action kind; the connection must also grant the kind's write
    scope. Kinds AgentOps executes itself (``approvals.executors``) need no route."""

    form = ActionRouteForm
    list_display = ["kind", "domain", "connection", "is_active", "writes_allowed", "updated_at"]
    list_filter = ["kind", "is_active"]
    list_select_related = ["connection"]

    @admin.display(description="Write scope granted", boolean=True)
    def writes_allowed(self, obj: ActionRoute) -> bool:
        return obj.connection.may_write(obj.kind)


@admin.register(ActionExecution)
class ActionExecutionAdmin(ReadOnlyAdmin):
    """Where each approved action's execution stands: held (why), retrying (the last error), done.
    A failed action can be given a fresh set of attempts with the action below."""

    list_display = ["action", "connection", "done", "attempts", "hold_reason", "last_error_code", "delivery_status", "due_at"]  # fmt: skip
    list_filter = ["done", "last_error_code", "connection"]
    search_fields = ["action__idempotency_key", "hold_reason", "last_error"]
    list_select_related = ["action", "connection"]
    actions = ["retry_failed"]

    @admin.action(description="Retry the selected failed actions (a fresh set of attempts)")
    def retry_failed(self, request: HttpRequest, queryset: Any) -> None:
        from connectors.execution import action_execution_retry

        retried = 0
        for execution in queryset.filter(action__status="failed"):
            action_execution_retry(action_id=execution.action_id, actor=request.user.get_username())
            retried += 1
        self.message_user(request, f"{retried} failed action(s) queued again.")


@admin.register(ExecutionAttempt)
class ExecutionAttemptAdmin(ReadOnlyAdmin):
    list_display = ["action", "number", "connection", "operation", "outcome", "status_code", "error_code", "latency_ms", "started_at"]  # fmt: skip
    list_filter = ["outcome", "error_code", "connection"]
    search_fields = ["action__idempotency_key", "correlation_id"]
    list_select_related = ["action", "connection"]
    date_hierarchy = "started_at"
