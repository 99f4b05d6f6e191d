from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals.choices import ActionKind, ActionStatus, Domain, RiskLevel
from approvals.models import ProposedAction
from approvals.states import ACTION_STATES
from audit.choices import EventType
from audit.services import decision_log_append


class DuplicateProposal(Exception):
    """A proposal with the same idempotency key exists already."""

    def __init__(self, existing: ProposedAction) -> None:
        self.existing = existing
        super().__init__(f"proposal already exists as action #{existing.pk}")


def payload_sha256(payload: Mapping[str, Any]) -> str:
    """Hash of a payload in canonical JSON (sorted keys), so key order never changes it."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def action_propose(
    *,
    kind: ActionKind | str,
    domain: Domain | str,
    payload: Mapping[str, Any],
    rationale: str,
    confidence: float,
    idempotency_key: str,
    proposed_by: str,
    risk_level: RiskLevel | str = RiskLevel.MEDIUM,
    lead_id: int | None = None,
    ticket_id: int | None = None,
    model_version_id: int | None = None,
    matched_rule: str = "",
    target_system: str = "",
    sla_due_at: datetime | None = None,
) -> ProposedAction:
    """Store a new proposal and its decision-log entry; raise DuplicateProposal on a repeat."""
    existing = ProposedAction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        raise DuplicateProposal(existing)
    try:
        with transaction.atomic():
            action = ProposedAction.objects.create(
                kind=kind,
                domain=domain,
                payload=dict(payload),
                rationale=rationale,
                confidence=confidence,
                idempotency_key=idempotency_key,
                proposed_by=proposed_by,
                risk_level=risk_level,
                lead_id=lead_id,
                ticket_id=ticket_id,
                model_version_id=model_version_id,
                matched_rule=matched_rule,
                target_system=target_system,
                sla_due_at=sla_due_at,
            )
            decision_log_append(
                event_type=EventType.ACTION_PROPOSED,
                actor=proposed_by,
                subject_type="proposed_action",
                subject_id=action.pk,
                correlation_id=action.correlation_id,
                model_version=action.model_version.label if action.model_version else "",
                prediction={"confidence": confidence, "risk_level": str(risk_level)},
                action_taken={"kind": str(kind), "target_system": target_system, "status": action.status},
            )
    except IntegrityError:
        # Lost a race with an identical proposal: report the winner, never store a second one.
        existing = ProposedAction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        raise DuplicateProposal(existing) from None
    return action


def action_transition(
    *, action_id: int, to: ActionStatus | str, actor: str, reason: str = ""
) -> ProposedAction:
    """Move an action to ``to`` if the state machine allows it; log it in the same transaction.

    Raises ``IllegalTransition`` (nothing written) otherwise. The row is locked so two workers
    cannot both move the same action.
    """
    with transaction.atomic():
        action = ProposedAction.objects.select_for_update().get(pk=action_id)
        previous = action.status
        ACTION_STATES.check(previous, str(to))
        action.status = str(to)
        fields = ["status", "updated_at"]
        now = timezone.now()
        if to in (ActionStatus.APPROVED, ActionStatus.REJECTED, ActionStatus.EXPIRED):
            action.decided_at = now
            fields.append("decided_at")
        if to == ActionStatus.APPROVED and not action.approved_payload_sha256:
            action.approved_payload_sha256 = payload_sha256(action.payload)
            fields.append("approved_payload_sha256")
        if to == ActionStatus.EXECUTED:
            action.executed_at = now
            fields.append("executed_at")
        action.save(update_fields=fields)
        decision_log_append(
            event_type=EventType.ACTION_TRANSITIONED,
            actor=actor,
            subject_type="proposed_action",
            subject_id=action.pk,
            correlation_id=action.correlation_id,
            action_taken={"kind": action.kind, "from": previous, "to": action.status, "reason": reason},
        )
    return action
