"""Fail-safes as data: kill switches and quotas, switched and tuned in the admin (with history) or by API."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from operations.choices import (
    UNTARGETED_SWITCH_SCOPES,
    AutoPauseMetric,
    IncidentStatus,
    QuotaScope,
    QuotaWindow,
    SwitchScope,
)

# Plain values, so the constraints (and their migration) do not depend on the enum class.
UNTARGETED = [str(scope) for scope in UNTARGETED_SWITCH_SCOPES]


class KillSwitch(models.Model):
    """Stops automated execution in its scope while engaged: every outbound call checks it just
    before it starts, and so do applying approved configuration changes and sending decision
    callbacks. Held work stays queued and visible and runs when the switch is released.

    Change it through ``operations.services.kill_switch_set`` (admin, API), which records who and
    why in the decision log in the same transaction.
    """

    scope = models.CharField(max_length=20, choices=SwitchScope.choices)
    target = models.CharField(
        max_length=200,
        blank=True,
        help_text="Connection name, action kind or agent (e.g. sdr-agent, support-bot); empty for global.",
    )
    engaged = models.BooleanField(default=False, help_text="On: nothing in this scope starts.")
    reason = models.CharField(max_length=500, blank=True)
    changed_by = models.CharField(
        max_length=150, blank=True, help_text="Who (or which rule) last switched it."
    )
    changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["scope", "target"]
        verbose_name_plural = "kill switches"  # not Django's "kill switchs"
        constraints = [
            models.UniqueConstraint(fields=["scope", "target"], name="kill_switch_unique_scope_target"),
            models.CheckConstraint(
                condition=Q(scope__in=UNTARGETED, target="") | (~Q(scope__in=UNTARGETED) & ~Q(target="")),
                name="kill_switch_target_iff_scoped",
            ),
        ]
        indexes = [models.Index(fields=["engaged"])]

    def __str__(self) -> str:
        where = f" {self.target}" if self.target else ""
        return f"{self.get_scope_display()}{where}: {'ENGAGED' if self.engaged else 'off'}"


class Quota(models.Model):
    """At most ``limit`` automated executions per hour or day in a scope; the excess is held
    (visible in the queue with the reason) until the window has room, never dropped."""

    name = models.CharField(max_length=150, unique=True)
    scope = models.CharField(max_length=20, choices=QuotaScope.choices)
    target = models.CharField(
        max_length=200, blank=True, help_text="One kind / connection / SDR user name; empty: each separately."
    )
    window = models.CharField(max_length=10, choices=QuotaWindow.choices)
    limit = models.PositiveIntegerField()
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["scope", "target", "window"]
        constraints = [models.CheckConstraint(condition=Q(limit__gte=1), name="quota_limit_positive")]

    def __str__(self) -> str:
        return f"{self.name}: {self.limit} per {self.window}"


class AutoPauseRule(models.Model):
    """A metric watched every minute; when it goes bad, an incident opens and a kill switch engages.

    Resolving the incident is an explicit human step (``operations.services.incident_resolve``).
    """

    name = models.CharField(max_length=150, unique=True)
    metric = models.CharField(max_length=30, choices=AutoPauseMetric.choices)
    action_kind = models.CharField(
        max_length=30, blank=True, help_text="Only actions of this kind (empty: all)."
    )
    window_minutes = models.PositiveIntegerField(
        default=15, help_text="The recent window the metric is read over."
    )
    baseline_days = models.PositiveIntegerField(
        default=28, help_text="For drop metrics: the earlier period the recent value is compared with."
    )
    threshold = models.FloatField(
        help_text="Level metrics: trip at or above (0.2 = 20%). Drop metrics: trip when this far below baseline."
    )
    min_samples = models.PositiveIntegerField(default=20, help_text="Fewer samples never trip the rule.")
    switch_scope = models.CharField(max_length=20, choices=SwitchScope.choices)
    switch_target = models.CharField(max_length=200, blank=True)
    runbook_url = models.CharField(max_length=300, default="docs/runbooks.md", blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gte=0), name="autopause_threshold_non_negative"),
            models.CheckConstraint(
                condition=Q(switch_scope__in=UNTARGETED, switch_target="")
                | (~Q(switch_scope__in=UNTARGETED) & ~Q(switch_target="")),
                name="autopause_switch_target_iff_scoped",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Incident(models.Model):
    """What an auto-pause (or a person) opened: the trigger, the timeline and the actions taken."""

    title = models.CharField(max_length=300)
    rule = models.ForeignKey(
        AutoPauseRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    status = models.CharField(max_length=10, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    trigger = models.JSONField(default=dict, blank=True)
    actions_taken = models.JSONField(default=list, blank=True)
    switch = models.ForeignKey(
        KillSwitch, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    runbook_url = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolution = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule"], condition=Q(status="open"), name="incident_one_open_per_rule"
            ),
            models.CheckConstraint(
                condition=Q(status="open", resolved_at__isnull=True)
                | Q(status="resolved", resolved_at__isnull=False),
                name="incident_resolved_iff_resolved_at",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title} ({self.status})"


class IncidentEvent(models.Model):
    """One line of an incident's timeline."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    text = models.TextField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor}: {self.text[:60]}"


class ServiceLevelObjective(models.Model):
    """A target for one KPI over a rolling window (e.g. 95% of decisions within SLA over 28 days);
    the dashboard shows attainment, error-budget burn and what is left."""

    name = models.CharField(max_length=150, unique=True)
    kpi = models.CharField(
        max_length=50, help_text="A KPI name from the dashboard, e.g. approval_sla_attainment."
    )
    objective = models.FloatField(help_text="Between 0 and 1, e.g. 0.95.")
    window_days = models.PositiveIntegerField(default=28)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(objective__gt=0) & Q(objective__lt=1), name="slo_objective_range"
            ),
            models.CheckConstraint(condition=Q(window_days__gte=1), name="slo_window_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.objective:.1%} over {self.window_days} days"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from operations.kpi_series import KPIS

        if self.kpi not in KPIS:
            raise ValidationError({"kpi": f"unknown KPI; one of {', '.join(sorted(KPIS))}"})


class ChangeControl(models.Model):
    """Whether changes to one kind of configuration need a second person's approval first."""

    model_label = models.CharField(max_length=100, unique=True, help_text="e.g. sales.PlaybookRule.")
    requires_second_person = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["model_label"]
        verbose_name = "change control setting"

    def __str__(self) -> str:
        return f"{self.model_label}: {'second person required' if self.requires_second_person else 'direct'}"


class CostSettings(models.Model):
    """The cost inputs of the ROI page: one row, edited in the admin with history."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    hourly_cost = models.DecimalField(
        max_digits=10, decimal_places=2, default=45, help_text="Loaded cost of an hour of SDR or agent time."
    )
    minutes_saved = models.JSONField(
        default=dict,
        blank=True,
        help_text='Minutes a person would spend per action kind, e.g. {"send_email": 6, "create_task": 2}.',
    )
    minutes_per_decision = models.DecimalField(
        max_digits=6, decimal_places=2, default=1, help_text="A person's time per approval decision."
    )
    compute_per_1000 = models.DecimalField(
        max_digits=10, decimal_places=2, default=0.5, help_text="Compute cost per 1,000 executed actions."
    )
    vendor_cost_per_month = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    value_per_conversion = models.DecimalField(
        max_digits=12, decimal_places=2, default=0, help_text="Gross value of one extra conversion."
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "cost settings"
        ordering = ["pk"]
        constraints = [models.CheckConstraint(condition=Q(singleton=True), name="cost_settings_singleton")]

    def __str__(self) -> str:
        return "Cost settings"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if not isinstance(self.minutes_saved, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float) and v >= 0
            for k, v in self.minutes_saved.items()
        ):
            raise ValidationError({"minutes_saved": "an object of action kind → minutes (a number ≥ 0)"})
