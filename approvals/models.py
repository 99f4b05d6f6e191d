from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from approvals.choices import (
    ActionKind,
    ActionStatus,
    ConfidenceSource,
    DecisionOutcome,
    Domain,
    PolicyOutcome,
    RejectionReason,
    RiskLevel,
    TimeoutAction,
)
from security.fields import PersonalKeysJSONField


class ProposedAction(models.Model):
    """An action an agent wants to take, waiting for the policy, a human, or execution.

    The payload is exactly what will be sent; ``approved_payload_sha256`` pins what a human
    approved, and execution refuses a payload that no longer matches it. ``idempotency_key`` is
    derived from the content by the proposer, so the same proposal is never stored twice.
    Status changes go through ``approvals.services`` and the state machine in ``approvals.states``.
    """

    kind = models.CharField(max_length=30, choices=ActionKind.choices)
    domain = models.CharField(max_length=20, choices=Domain.choices)
    lead = models.ForeignKey(
        "sales.Lead", null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    ticket = models.ForeignKey(
        "support.Ticket", null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    target_system = models.CharField(
        max_length=20, blank=True, help_text="System of record the action writes to, if any."
    )
    # Personal values encrypted inside (security.fields): a message's "to" is an email or a phone.
    payload = PersonalKeysJSONField(default=dict, blank=True)
    rationale = models.TextField(help_text="Why the agent proposes this, in plain words.")
    confidence = models.FloatField(help_text="0–1, the agent's confidence in the proposal.")
    confidence_source = models.CharField(
        max_length=10,
        choices=ConfidenceSource.choices,
        default=ConfidenceSource.AGENT,
        help_text="Where the confidence came from: reported by the agent itself (the API; not trusted "
        "by the policy unless a rule opts in), a model version's prediction, or a rule's constant.",
    )
    risk_level = models.CharField(max_length=10, choices=RiskLevel.choices, default=RiskLevel.MEDIUM)
    status = models.CharField(
        max_length=20, choices=ActionStatus.choices, default=ActionStatus.PROPOSED, db_index=True
    )
    idempotency_key = models.CharField(max_length=128, unique=True)
    correlation_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    model_version = models.ForeignKey(
        "scoring.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    proposed_by = models.CharField(max_length=100, help_text="Agent or user that proposed it.")
    proposed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="proposed_actions",
    )
    matched_rule = models.CharField(max_length=200, blank=True)
    approved_payload_sha256 = models.CharField(max_length=64, blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    approver_group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    policy_reasons = models.JSONField(default=list, blank=True)
    compliance_flags = models.JSONField(default=list, blank=True)
    bulk_size = models.PositiveIntegerField(default=1)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    timeout_action = models.CharField(
        max_length=10, choices=TimeoutAction.choices, default=TimeoutAction.ESCALATE
    )
    escalation_level = models.PositiveSmallIntegerField(default=0)
    sla_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    execution_started_at = models.DateTimeField(
        null=True, blank=True, help_text="When execution last started; quotas count by it."
    )
    executed_at = models.DateTimeField(null=True, blank=True)
    callback_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Where to POST the signed decision (API submissions); empty for none.",
    )
    callback_attempts = models.PositiveSmallIntegerField(default=0)
    callback_delivered_at = models.DateTimeField(null=True, blank=True)
    callback_last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="action_confidence_range",
            ),
            models.CheckConstraint(
                condition=~(Q(lead__isnull=False) & Q(ticket__isnull=False)),
                name="action_single_target",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in ActionStatus]),
                name="action_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(confidence_source__in=[s.value for s in ConfidenceSource]),
                name="action_confidence_source_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "executing", "executed"])
                | ~Q(approved_payload_sha256=""),
                name="action_approved_has_payload_hash",
            ),
            models.CheckConstraint(
                condition=Q(callback_url="")
                | Q(callback_url__startswith="http://")
                | Q(callback_url__startswith="https://"),
                name="action_callback_url_http",
            ),
        ]
        indexes = [
            models.Index(fields=["execution_started_at"], name="action_execution_started"),
            models.Index(fields=["domain", "status", "sla_due_at"]),
            models.Index(fields=["lead", "created_at"]),
            # The approval queue with 100,000 items waiting: its counts are read from this index
            # alone (columns in GROUP BY order), its pages walk the SLA order of the next one.
            models.Index(
                fields=[
                    "status",
                    "domain",
                    "risk_level",
                    "matched_rule",
                    "model_version",
                    "approver_group",
                    "sla_due_at",
                ],
                name="action_queue_facets",
            ),
            models.Index(fields=["status", "sla_due_at", "approver_group"], name="action_queue_sla_order"),
            # The newest change of any action keys the cached queue counts.
            models.Index(fields=["updated_at"], name="action_updated_at"),
            models.Index(
                fields=["approver_group", "sla_due_at"],
                condition=Q(status="pending_approval", escalation_level__gt=0),
                name="action_pending_escalated",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"


class Decision(models.Model):
    """A human (or policy) decision on a proposed action; also a labelled training example.

    Stores the original proposal and the final payload so edits become corrected targets.
    """

    action = models.ForeignKey(ProposedAction, on_delete=models.PROTECT, related_name="decisions")
    outcome = models.CharField(max_length=20, choices=DecisionOutcome.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="decisions",
        help_text="Empty when the approval policy decided automatically.",
    )
    reason_code = models.CharField(max_length=30, choices=RejectionReason.choices, blank=True)
    comment = models.TextField(blank=True)
    # Personal values encrypted inside, like the action's payload they copy.
    original_payload = PersonalKeysJSONField(default=dict, blank=True)
    final_payload = PersonalKeysJSONField(default=dict, blank=True)
    payload_diff = PersonalKeysJSONField(default=dict, blank=True)
    payload_sha256 = models.CharField(max_length=64, blank=True)
    time_to_decide = models.DurationField(null=True, blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    bulk = models.BooleanField(
        default=False,
        help_text="Approved with others in one bulk approval: not a judgement of this item, so it is "
        "kept out of the override statistics and the learning data.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(outcome="reject") | ~Q(reason_code=""),
                name="decision_reject_needs_reason",
            ),
            models.CheckConstraint(
                condition=~Q(outcome__in=["approve", "edit_approve"]) | ~Q(payload_sha256=""),
                name="decision_approval_has_payload_hash",
            ),
            # One approval per person per action: a quorum of two needs two different people.
            models.UniqueConstraint(
                fields=["action", "decided_by"],
                condition=Q(outcome__in=["approve", "edit_approve"]),
                name="decision_one_approval_per_person",
            ),
        ]

    def __str__(self) -> str:
        who = self.decided_by or "policy"
        return f"{self.get_outcome_display()} by {who} on action #{self.action_id}"


class ApprovalPolicy(models.Model):
    """A rule deciding whether matching actions run on their own, need one or two approvals, or are blocked.

    Unset conditions are ignored; all set ones must hold. The strictest matching policy wins, and
    every matching policy's reason is shown to the approver (see ``approvals.policy``).
    """

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(
        default=100, help_text="Lower first; decides the order of reasons."
    )
    outcome = models.CharField(max_length=20, choices=PolicyOutcome.choices)
    kinds = models.JSONField(default=list, blank=True, help_text="Action kinds; empty for all.")
    domains = models.JSONField(default=list, blank=True, help_text="Domains; empty for all.")
    risk_at_least = models.CharField(max_length=10, choices=RiskLevel.choices, blank=True)
    confidence_below = models.FloatField(
        null=True,
        blank=True,
        help_text="Matches when the action's confidence is below this. A confidence from a source not in "
        "confidence_sources is not trusted: a rule needing approval or blocking takes it as below (it "
        "matches), an auto rule as not below (it does not).",
    )
    confidence_sources = models.JSONField(
        default=list,
        blank=True,
        help_text='Sources whose confidence confidence_below takes at face value: "model", "rule", "agent". '
        'Empty: "model" and "rule" (AgentOps\' own); add "agent" to trust what an agent reports about itself.',
    )
    score_at_least = models.PositiveSmallIntegerField(null=True, blank=True)
    deal_value_at_least = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    account_value_at_least = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    bulk_size_at_least = models.PositiveIntegerField(null=True, blank=True)
    compliance_flags_any = models.JSONField(
        default=list, blank=True, help_text='e.g. ["pricing", "contract"]'
    )
    drift_states = models.JSONField(default=list, blank=True, help_text='e.g. ["alert"]')
    ownership_change = models.BooleanField(null=True, blank=True)
    approver_group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sla_minutes = models.PositiveIntegerField(null=True, blank=True)
    timeout_action = models.CharField(
        max_length=10, choices=TimeoutAction.choices, default=TimeoutAction.ESCALATE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["priority", "name"]
        verbose_name_plural = "approval policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence_below__isnull=True)
                | (Q(confidence_below__gt=0) & Q(confidence_below__lte=1)),
                name="policy_confidence_range",
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=PolicyOutcome.values),
                name="policy_outcome_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        sources = self.confidence_sources
        if not isinstance(sources, list) or not set(sources) <= set(ConfidenceSource.values):
            raise ValidationError(
                {"confidence_sources": f"a list of {', '.join(ConfidenceSource.values)} (or empty)"}
            )


class EscalationStep(models.Model):
    """One rung of the escalation ladder: overdue items of ``group`` move to ``escalate_to``."""

    group = models.OneToOneField("auth.Group", on_delete=models.CASCADE, related_name="escalation")
    escalate_to = models.ForeignKey("auth.Group", on_delete=models.PROTECT, related_name="+")
    sla_minutes = models.PositiveIntegerField(help_text="New SLA once escalated.")
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["group__name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(group=models.F("escalate_to")), name="escalation_not_to_itself"
            ),
            models.CheckConstraint(condition=Q(sla_minutes__gt=0), name="escalation_sla_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.escalate_to} after SLA"
