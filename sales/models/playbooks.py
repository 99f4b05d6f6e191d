from __future__ import annotations

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from sales.choices import ExperimentArm


class Playbook(models.Model):
    """A named set of SDR playbook rules that business users edit in the admin (with history).

    Only active playbooks' active rules are evaluated; see ``sales.playbook`` for the rule spec.
    """

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    domain = models.CharField(max_length=20, default="sales", editable=False)
    control_share = models.FloatField(
        default=0.0,
        help_text="Share of eligible leads (0–0.5) deliberately left alone as a control group, "
        "so the playbook's effect on reply, meeting and conversion rates can be measured.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(control_share__gte=0) & Q(control_share__lte=0.5),
                name="playbook_control_share_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PlaybookRule(models.Model):
    """One rule of a playbook: declarative conditions over a lead and its score, and the actions to
    propose when they hold. Validated by ``sales.playbook`` on save, so a bad spec never reaches a run.
    """

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=150, help_text="Shown to approvers as the matched rule.")
    priority = models.PositiveIntegerField(default=100, help_text="Lower first.")
    is_active = models.BooleanField(default=True)
    conditions = models.JSONField(
        default=dict,
        help_text='e.g. {"score_at_least": 80, "uncontacted": true}; see docs/playbooks.md.',
    )
    actions = models.JSONField(
        default=list,
        help_text='e.g. [{"kind": "flag_for_review", "payload": {"reason": "…"}}]; see docs/playbooks.md.',
    )
    stop_processing = models.BooleanField(
        default=False, help_text="When this rule matches a lead, skip the rules after it for that lead."
    )
    mode = models.CharField(
        max_length=10,
        choices=[("live", "Live (proposes)"), ("shadow", "Shadow (evaluated and logged, never proposes)")],
        default="live",
    )
    canary_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canaries",
        help_text="Try this rule instead of that live rule on a stable share of leads.",
    )
    canary_share = models.FloatField(default=0.1, help_text="Share of leads (0–1) the canary takes over.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["playbook", "priority", "name"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "name"], name="playbook_rule_unique_name"),
            models.CheckConstraint(
                condition=Q(canary_share__gt=0) & Q(canary_share__lt=1),
                name="playbook_rule_canary_share_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from sales.playbook import RuleSpecError, parse_actions, parse_conditions

        errors = {}
        tried = self.canary_of
        if tried is not None:
            if tried.pk == self.pk:
                errors["canary_of"] = "a rule cannot be its own canary"
            elif tried.playbook_id != self.playbook_id:
                errors["canary_of"] = "the rule it tries must be in the same playbook"
            elif tried.canary_of_id is not None:
                errors["canary_of"] = "that rule is itself a canary; point at the live rule"
        for field_name, parse in (("conditions", parse_conditions), ("actions", parse_actions)):
            try:
                parse(getattr(self, field_name))
            except RuleSpecError as exc:
                errors[field_name] = f"{exc.field}: {exc.reason}"
        if errors:
            raise ValidationError(errors)


class ExperimentAssignment(models.Model):
    """Which arm of a playbook's experiment a lead is in, fixed the first time a rule matched it.

    Control leads get no proposal (the decision log says they were held out); both arms are
    followed up by ``sales.selectors.experiment_results`` to measure the playbook's effect.
    """

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="assignments")
    lead = models.ForeignKey("sales.Lead", on_delete=models.CASCADE, related_name="experiment_assignments")
    arm = models.CharField(max_length=10, choices=ExperimentArm.choices)
    rule_name = models.CharField(max_length=150, help_text="The first rule that matched the lead.")
    assigned_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["playbook", "-assigned_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "lead"], name="experiment_assignment_unique_lead"),
        ]
        indexes = [models.Index(fields=["playbook", "arm"])]

    def __str__(self) -> str:
        return f"{self.playbook} · lead {self.lead_id} · {self.arm}"


class ShadowMatch(models.Model):
    """What a shadow rule would have proposed for a lead (once per rule version and action kind):
    compared side by side with the live rule before the shadow goes live."""

    rule = models.ForeignKey(PlaybookRule, on_delete=models.CASCADE, related_name="shadow_matches")
    lead = models.ForeignKey("sales.Lead", on_delete=models.CASCADE, related_name="shadow_matches")
    rule_version = models.CharField(max_length=64)
    kind = models.CharField(max_length=30)
    payload = models.JSONField(default=dict)
    matched_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-matched_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "lead", "rule_version", "kind"], name="shadow_match_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} would {self.kind} lead {self.lead_id}"
