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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["playbook", "priority", "name"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "name"], name="playbook_rule_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from sales.playbook import RuleSpecError, parse_actions, parse_conditions

        errors = {}
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
