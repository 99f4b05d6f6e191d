"""Routing proposed actions through the approval policy (``approvals.policy``, pure): auto-approve,
queue for one or two approvals, or block."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from approvals.choices import (
    READ_ONLY_KINDS,
    ActionStatus,
    DecisionOutcome,
    PolicyOutcome,
    RejectionReason,
)
from approvals.models import ApprovalPolicy, Decision, ProposedAction
from approvals.payload_hash import payload_sha256
from approvals.policy import ActionFacts, PolicyRule, evaluate_policy
from approvals.services.settlement import _move
from approvals.subjects import policy_facts
from audit.bulk import LogEntry, decision_log_append_many
from audit.choices import EventType
from core.bulk import insert_many, update_many


def _policy_rules() -> list[PolicyRule]:
    return [
        PolicyRule(
            name=p.name,
            outcome=p.outcome,
            kinds=frozenset(p.kinds or []),
            domains=frozenset(p.domains or []),
            risk_at_least=p.risk_at_least or None,
            confidence_below=p.confidence_below,
            confidence_sources=frozenset(p.confidence_sources or []),
            score_at_least=p.score_at_least,
            deal_value_at_least=p.deal_value_at_least,
            account_value_at_least=p.account_value_at_least,
            bulk_size_at_least=p.bulk_size_at_least,
            compliance_flags_any=frozenset(p.compliance_flags_any or []),
            drift_states=frozenset(p.drift_states or []),
            ownership_change=p.ownership_change,
            approver_group=p.approver_group.name if p.approver_group else "",
            sla_minutes=p.sla_minutes,
            timeout_action=p.timeout_action,
            priority=p.priority,
        )
        for p in ApprovalPolicy.objects.filter(is_active=True).select_related("approver_group")
    ]


def _facts_with(action: ProposedAction, record_facts: dict[str, Any]) -> ActionFacts:
    """The policy's facts about an action: its own, and what its record's subject and the fact
    sources know (``approvals.subjects.policy_facts``: a lead's score, deal and account value, the
    model's drift state, an ownership change)."""
    return ActionFacts(
        kind=action.kind,
        domain=action.domain,
        risk_level=action.risk_level,
        confidence=action.confidence,
        confidence_source=action.confidence_source,
        read_only=action.kind in READ_ONLY_KINDS,
        bulk_size=action.bulk_size,
        compliance_flags=frozenset(action.compliance_flags or []),
        **record_facts,
    )


def action_route(*, action_id: int, actor: str = "policy") -> ProposedAction:
    """Apply the approval policy to a proposed action: auto-approve, queue for one or two approvals, or block.

    One action is a batch of one: ``actions_route_many`` holds the routing, so both give the same.
    """
    actions_route_many(action_ids=[action_id], actor=actor)
    return ProposedAction.objects.select_related("lead__account", "model_version", "approver_group").get(
        pk=action_id
    )


def actions_route_many(*, action_ids: Sequence[int], actor: str = "policy") -> dict[str, int]:
    """Route many proposed actions at once, with the same outcome, fields, decisions and log entries
    as ``action_route`` gives each, in a constant number of queries whatever their number: the
    policies, drift state, acting scores and approver groups are read once, and the writes are one
    statement each. Returns how many went to each status.
    """
    if not action_ids:
        return {}
    rules = _policy_rules()
    with transaction.atomic():
        actions = list(
            ProposedAction.objects.select_for_update(of=("self",))
            .select_related("model_version")
            .defer("model_version__artifact", "model_version__reference")
            .filter(pk__in=list(action_ids))
            .order_by("pk")
        )
        facts = policy_facts(actions)
        decided = [
            (action, evaluate_policy(_facts_with(action, facts[action.pk]), rules)) for action in actions
        ]
        names = {decision.approver_group for _, decision in decided if decision.approver_group}
        groups = {g.name: g for g in Group.objects.filter(name__in=names)} if names else {}
        now = timezone.now()
        decisions: list[Decision] = []
        entries: list[LogEntry] = []
        counts: dict[str, int] = {}
        for action, decision in decided:
            target = {
                PolicyOutcome.AUTO: ActionStatus.APPROVED,
                PolicyOutcome.BLOCK: ActionStatus.REJECTED,
            }.get(decision.outcome, ActionStatus.PENDING_APPROVAL)
            previous = action.status
            _move(action, target, now)
            action.required_approvals = decision.required_approvals
            action.policy_reasons = list(decision.reasons)
            action.timeout_action = decision.timeout_action
            if decision.approver_group:
                action.approver_group = groups.get(decision.approver_group)
            if decision.sla_minutes and target == ActionStatus.PENDING_APPROVAL:
                action.sla_due_at = now + timedelta(minutes=decision.sla_minutes)
            label = action.model_version.label if action.model_version else ""
            if target != ActionStatus.PENDING_APPROVAL:
                decisions.append(
                    Decision(
                        action=action,
                        outcome=DecisionOutcome.APPROVE
                        if target == ActionStatus.APPROVED
                        else DecisionOutcome.REJECT,
                        reason_code="" if target == ActionStatus.APPROVED else RejectionReason.COMPLIANCE,
                        comment="; ".join(decision.reasons),
                        original_payload=action.payload,
                        final_payload=action.payload,
                        payload_sha256=payload_sha256(action.payload),
                        model_version=label,
                    )
                )
            entries.append(
                LogEntry(
                    event_type=EventType.ACTION_TRANSITIONED,
                    actor=actor,
                    subject_type="proposed_action",
                    subject_id=action.pk,
                    correlation_id=action.correlation_id,
                    action_taken={"kind": action.kind, "from": previous, "to": target},
                    approval={
                        "policy": decision.outcome,
                        "rules": list(decision.rules),
                        "reasons": list(decision.reasons),
                    },
                )
            )
            counts[str(target)] = counts.get(str(target), 0) + 1
        update_many(
            ProposedAction,
            actions,
            [
                "status", "decided_at", "approved_payload_sha256", "required_approvals", "policy_reasons",
                "timeout_action", "approver_group", "sla_due_at", "updated_at",
            ],
        )  # fmt: skip
        insert_many(Decision, decisions)
        decision_log_append_many(entries=entries)
    return counts
