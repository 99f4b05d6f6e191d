"""SLA timeouts: escalating overdue items up the ladder, expiring or rejecting them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from approvals.choices import (
    ActionStatus,
    DecisionOutcome,
    RejectionReason,
    TimeoutAction,
)
from approvals.models import Decision, EscalationStep, ProposedAction
from approvals.services.settlement import _move
from audit.choices import EventType
from audit.services import decision_log_append


@dataclass
class EscalationSummary:
    escalated: int = 0
    expired: int = 0
    rejected: int = 0
    at_top: int = 0


def actions_escalate_overdue(*, now: datetime | None = None, actor: str = "sla") -> EscalationSummary:
    """Apply each overdue item's timeout action: escalate up the ladder, expire, or reject.

    Safe to run twice and from several workers: each item is locked (skipping ones another worker
    holds) and re-checked; an escalated item gets a new SLA, so it is not escalated again until that
    one runs out too. An item at the top of the ladder stays put and is logged once per SLA.
    """
    now = now or timezone.now()
    summary = EscalationSummary()
    ladder = {step.group_id: step for step in EscalationStep.objects.select_related("escalate_to")}
    overdue = list(
        ProposedAction.objects.filter(status=ActionStatus.PENDING_APPROVAL, sla_due_at__lt=now)
        .order_by("sla_due_at", "id")
        .values_list("id", flat=True)
    )
    for action_id in overdue:
        with transaction.atomic():
            action = (
                ProposedAction.objects.select_for_update(skip_locked=True)
                .filter(pk=action_id, status=ActionStatus.PENDING_APPROVAL, sla_due_at__lt=now)
                .first()
            )
            if action is None:
                continue
            previous_group = action.approver_group.name if action.approver_group is not None else ""
            detail: dict[str, Any] = {
                "kind": action.kind,
                "sla_due_at": action.sla_due_at.isoformat() if action.sla_due_at else None,
            }
            if action.timeout_action in (TimeoutAction.EXPIRE, TimeoutAction.REJECT):
                target = (
                    ActionStatus.EXPIRED
                    if action.timeout_action == TimeoutAction.EXPIRE
                    else ActionStatus.REJECTED
                )
                action.save(update_fields=_move(action, target, now))
                if target == ActionStatus.REJECTED:
                    Decision.objects.create(
                        action=action, outcome=DecisionOutcome.REJECT, reason_code=RejectionReason.BAD_TIMING,
                        comment="SLA ran out; the policy rejects undecided items", original_payload=action.payload,
                        final_payload=action.payload,
                    )  # fmt: skip
                    summary.rejected += 1
                else:
                    summary.expired += 1
                detail.update({"to": target})
            else:
                step = ladder.get(action.approver_group_id) if action.approver_group_id else None
                if step is None:
                    # Top of the ladder: nobody to hand it to. Start a fresh SLA window so the breach
                    # is reported once per window, not on every run.
                    action.sla_due_at = now + timedelta(minutes=60)
                    action.save(update_fields=["sla_due_at", "updated_at"])
                    summary.at_top += 1
                    detail.update({"to": previous_group, "top_of_ladder": True})
                else:
                    action.approver_group = step.escalate_to
                    action.escalation_level += 1
                    action.sla_due_at = now + timedelta(minutes=step.sla_minutes)
                    action.save(
                        update_fields=["approver_group", "escalation_level", "sla_due_at", "updated_at"]
                    )
                    summary.escalated += 1
                    detail.update({"to": step.escalate_to.name, "level": action.escalation_level})
            decision_log_append(
                event_type=EventType.ACTION_ESCALATED,
                actor=actor,
                subject_type="proposed_action",
                subject_id=action.pk,
                correlation_id=action.correlation_id,
                action_taken={**detail, "from": previous_group, "timeout_action": action.timeout_action},
            )
    return summary
