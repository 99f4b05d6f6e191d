from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html_join
from simple_history.admin import SimpleHistoryAdmin

from approvals.admin_mixins import ChangeControlledAdmin
from approvals.choices import ActionKind
from approvals.executors import kind_refusals
from sales.choices import CadenceChannel
from sales.lead_rows import OVERSIGHT_FIELDS
from sales.models import (
    Account,
    Cadence,
    CadenceStep,
    CompliancePattern,
    Enrolment,
    ExperimentAssignment,
    Lead,
    LeadEvent,
    MessageTemplate,
    Playbook,
    PlaybookRule,
    SdrQueue,
    SequencingSettings,
    Touch,
)
from sales.selectors import RulePreview, playbook_rule_preview, rule_rollout_comparison
from sales.templating import MERGE_FIELDS
from security.admin_mixins import PersonalDataAdminMixin
from security.crypto import blind_index


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "industry", "size_band", "region", "account_value", "source"]
    list_filter = ["source", "industry", "size_band", "region"]
    search_fields = ["name", "domain", "=external_id"]


@admin.register(Lead)
class LeadAdmin(PersonalDataAdminMixin, admin.ModelAdmin):
    """Email and phone are encrypted: the search finds an exact email through its blind index."""

    personal_fields = ["email", "phone"]
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
    search_fields = ["=external_id", "last_name", "company_name", "=salesforce_id", "=hubspot_id"]
    list_select_related = ["owner"]
    raw_id_fields = ["account"]
    # Oversight decides on these: the CRM sync sets them, consent is the consent API's (with
    # evidence), and each change is logged there; a hand edit here would be neither.
    readonly_fields = [*OVERSIGHT_FIELDS, "created_at", "updated_at"]
    show_full_result_count = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Lead], search_term: str
    ) -> tuple[QuerySet[Lead], bool]:
        if "@" in search_term:
            return queryset.filter(email_index=blind_index(search_term)), False
        return super().get_search_results(request, queryset, search_term)


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
class PlaybookAdmin(ChangeControlledAdmin, SimpleHistoryAdmin):
    list_display = ["name", "is_active", "control_share", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def _preview_words(rule: PlaybookRule, preview: RulePreview) -> str:
    return f"“{rule.name}” would fire for {preview.leads} leads now ({preview.proposals} proposals)"


@admin.register(PlaybookRule)
class PlaybookRuleAdmin(ChangeControlledAdmin, SimpleHistoryAdmin):
    """Rules are data: edited here with history; a bad spec is refused naming its field (``clean``)."""

    list_display = [
        "name",
        "playbook",
        "priority",
        "is_active",
        "mode",
        "canary_of",
        "stop_processing",
        "updated_at",
    ]
    list_filter = ["playbook", "is_active", "mode"]
    list_select_related = ["playbook"]
    search_fields = ["name"]
    readonly_fields = ["dry_run_preview", "rollout_comparison", "created_at", "updated_at"]
    fields = [
        "playbook", "name", "priority", "is_active", "stop_processing", "conditions", "actions",
        "mode", "canary_of", "canary_share", "dry_run_preview", "rollout_comparison", "created_at", "updated_at",
    ]  # fmt: skip
    actions = ["preview", "promote_trial", "rollback_trial"]
    raw_id_fields = ["canary_of"]

    @admin.display(description="Canary / shadow comparison (30 days)")
    def rollout_comparison(self, obj: PlaybookRule) -> str:
        if obj.pk is None or (
            obj.canary_of_id is None and obj.mode != "shadow" and not obj.canaries.exists()
        ):
            return "Not on trial: set 'canary of' (or mode shadow) on a copy of a rule to try a change."
        return format_html_join(
            "",
            "<div>{} ({}): {} proposals, {} shadow matches, {} decisions by people, approved {}, overridden {}</div>",
            (
                (r.name, r.role, r.proposals, r.shadow_matches, r.human_decisions,
                 _percent(r.approval_rate), _percent(r.override_rate))
                for r in rule_rollout_comparison(rule=obj)
            ),
        )  # fmt: skip

    def _rollout(self, request: HttpRequest, queryset: QuerySet[PlaybookRule], to: str) -> None:
        from sales.services import rule_rollout_set

        for rule in queryset:
            try:
                rule_rollout_set(rule_id=rule.pk, to=to, actor=f"user:{request.user.get_username()}")
                self.message_user(request, f"{rule.name}: {to} done.", messages.SUCCESS)
            except ValueError as exc:
                self.message_user(request, str(exc), messages.WARNING)

    @admin.action(
        description="Promote the canary or shadow rule to live (a canary replaces the rule it tried)"
    )
    def promote_trial(self, request: HttpRequest, queryset: QuerySet[PlaybookRule]) -> None:
        self._rollout(request, queryset, "promote")

    @admin.action(description="Roll back the canary or shadow rule (switch it off)")
    def rollback_trial(self, request: HttpRequest, queryset: QuerySet[PlaybookRule]) -> None:
        self._rollout(request, queryset, "rollback")

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


@admin.register(MessageTemplate)
class MessageTemplateAdmin(SimpleHistoryAdmin):
    """Copy with merge fields; the version goes up on every change and earlier text is in History."""

    list_display = ["name", "channel", "version", "updated_at"]
    list_filter = ["channel"]
    search_fields = ["name", "subject", "body"]
    readonly_fields = ["version", "merge_fields", "created_at", "updated_at"]

    @admin.display(description="Merge fields you can use")
    def merge_fields(self, obj: MessageTemplate) -> str:
        return format_html_join(
            "",
            "<div><code>{{{{ {} }}}}</code> {}</div>",
            ((name, text) for name, text in MERGE_FIELDS.items()),
        )


def _no_sms_provider() -> str:
    """Why no SMS step can go out now (no provider: ``approvals.executors.kind_refusals``), or ""."""
    refusals = kind_refusals(kind=ActionKind.SEND_SMS, domain="sales")
    return "; ".join(getattr(r, "reason", str(r)) for r in refusals)


class CadenceStepFormSet(BaseInlineFormSet):
    """An active cadence gets no new SMS step while nothing can send SMS: the step's channel says
    why. Steps already there are left alone (a warning after saving, ``CadenceAdmin.save_related``),
    so other edits are never blocked by a provider that went away."""

    def clean(self) -> None:
        super().clean()
        if not getattr(self.instance, "is_active", False):
            return
        added = [
            form
            for form in self.forms
            if form.cleaned_data.get("channel") == CadenceChannel.SMS
            and not form.cleaned_data.get("DELETE")
            and "channel" in form.changed_data
        ]
        reason = _no_sms_provider() if added else ""
        for form in added if reason else []:
            form.add_error(
                "channel",
                f"{reason}. Connect an SMS provider first, or save the cadence switched off "
                "(every lead would skip this step).",
            )


class CadenceStepInline(admin.TabularInline):
    model = CadenceStep
    formset = CadenceStepFormSet
    extra = 1
    fields = ["position", "channel", "wait_days", "template"]
    ordering = ["position"]


@admin.register(Cadence)
class CadenceAdmin(SimpleHistoryAdmin):
    list_display = ["name", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    inlines = [CadenceStepInline]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        positions = list(
            form.instance.steps.filter(channel=CadenceChannel.SMS).values_list("position", flat=True)
        )
        reason = _no_sms_provider() if positions else ""
        if reason:
            steps = ", ".join(str(p) for p in positions)
            self.message_user(
                request,
                f"SMS step(s) {steps}: {reason}. Until an SMS provider is connected, every lead skips "
                "them (the touch says why) and goes on to the next step.",
                messages.WARNING,
            )


@admin.register(SequencingSettings)
class SequencingSettingsAdmin(SimpleHistoryAdmin):
    """One row: pacing, quiet hours, enrolment limits and sender details for every cadence."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not SequencingSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CompliancePattern)
class CompliancePatternAdmin(SimpleHistoryAdmin):
    list_display = ["flag", "regex", "is_active", "updated_at"]
    list_filter = ["flag", "is_active"]


TOUCH_FIELDS = (
    "position",
    "channel",
    "status",
    "reason",
    "action",
    "compliance_flags",
    "touched_at",
    "replied_at",
)


class TouchInline(admin.TabularInline):
    model = Touch
    extra = 0
    can_delete = False
    fields = TOUCH_FIELDS
    readonly_fields = TOUCH_FIELDS
    ordering = ["position"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin):
    """Enrolments are written by the cadence engine; people pause and resume them here."""

    list_display = [
        "lead",
        "cadence",
        "owner",
        "status",
        "exit_reason",
        "next_position",
        "next_step_at",
        "wait_reason",
    ]
    list_filter = ["status", "exit_reason", "cadence"]
    list_select_related = ["lead", "cadence", "owner"]
    raw_id_fields = ["lead", "owner", "source_action"]
    readonly_fields = [f.name for f in Enrolment._meta.fields]
    inlines = [TouchInline]
    actions = ["pause", "resume"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _set_paused(self, request: HttpRequest, queryset: QuerySet[Enrolment], paused: bool) -> None:
        from sales.cadence_services import enrolment_set_paused

        done = 0
        for enrolment in queryset:
            try:
                enrolment_set_paused(
                    enrolment_id=enrolment.pk,
                    paused=paused,
                    actor=request.user.get_username(),
                    reason="paused in the admin",
                )
                done += 1
            except ValueError as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"{'Paused' if paused else 'Resumed'} {done} enrolment(s).", messages.INFO)

    @admin.action(description="Pause the selected enrolments")
    def pause(self, request: HttpRequest, queryset: QuerySet[Enrolment]) -> None:
        self._set_paused(request, queryset, True)

    @admin.action(description="Resume the selected enrolments (the next step is due at once)")
    def resume(self, request: HttpRequest, queryset: QuerySet[Enrolment]) -> None:
        self._set_paused(request, queryset, False)


@admin.register(ExperimentAssignment)
class ExperimentAssignmentAdmin(admin.ModelAdmin):
    list_display = ["playbook", "lead", "arm", "rule_name", "assigned_at"]
    list_filter = ["playbook", "arm"]
    list_select_related = ["playbook", "lead"]
    readonly_fields = [f.name for f in ExperimentAssignment._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
