"""Proposals: storing what an agent, a playbook or change control proposes, once per idempotency key,
with its decision-log entry, and handing it to the policy (``routing``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from approvals.choices import (
    ActionKind,
    ActionStatus,
    ConfidenceSource,
    Domain,
    RiskLevel,
)
from approvals.executors import kind_refusals
from approvals.models import ProposedAction
from approvals.scanners import outbound_flags
from approvals.services.routing import actions_route_many
from audit.bulk import LogEntry, decision_log_append_many
from audit.choices import EventType
from audit.services import decision_log_append
from core.bulk import insert_many
from core.errors import CONFLICT, AppError

logger = logging.getLogger(__name__)


class DuplicateProposal(AppError):
    """A proposal with the same idempotency key exists already (``existing``)."""

    default_status = CONFLICT

    def __init__(self, existing: ProposedAction) -> None:
        self.existing = existing
        super().__init__(
            "duplicate_proposal", f"proposal already exists as action #{existing.pk}", field="idempotency_key"
        )


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
    proposed_by_user_id: int | None = None,
    callback_url: str = "",
    confidence_source: ConfidenceSource | str = ConfidenceSource.AGENT,
    compliance_flags: Sequence[str] | None = None,
) -> ProposedAction:
    """Store a new proposal and its decision-log entry; raise DuplicateProposal on a repeat.

    ``confidence_source`` says where ``confidence`` came from (the agent unless the caller says
    otherwise: the policy trusts only AgentOps' own sources). A message a person receives is
    compliance-scanned here unless the caller passes the flags of its own scan.
    """
    existing = ProposedAction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        raise DuplicateProposal(existing)
    if compliance_flags is None:
        compliance_flags = outbound_flags([(str(kind), payload)])[0]
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
                proposed_by_user_id=proposed_by_user_id,
                callback_url=callback_url,
                confidence_source=confidence_source,
                compliance_flags=list(compliance_flags),
            )
            decision_log_append(
                event_type=EventType.ACTION_PROPOSED,
                actor=proposed_by,
                subject_type="proposed_action",
                subject_id=action.pk,
                correlation_id=action.correlation_id,
                model_version=action_model_label(action),
                prediction={
                    "confidence": confidence,
                    "confidence_source": str(confidence_source),
                    "risk_level": str(risk_level),
                },
                action_taken={"kind": str(kind), "target_system": target_system, "status": action.status},
            )
    except IntegrityError:
        # Lost a race with an identical proposal: report the winner, never store a second one.
        existing = ProposedAction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        raise DuplicateProposal(existing) from None
    return action


@dataclass(frozen=True)
class NewProposal:
    """One proposal for ``actions_propose_many``: the action's fields and its log entry's context.
    ``compliance_flags`` None: a message a person receives is scanned by ``actions_propose_many``."""

    kind: str
    domain: str
    payload: Mapping[str, Any]
    rationale: str
    confidence: float
    risk_level: str
    idempotency_key: str
    proposed_by: str
    lead_id: int | None = None
    model_version_id: int | None = None
    model_version: str = ""
    matched_rule: str = ""
    compliance_flags: Sequence[str] | None = None
    confidence_source: str = ConfidenceSource.AGENT
    input_context: Mapping[str, Any] = field(default_factory=dict)
    prediction: Mapping[str, Any] = field(default_factory=dict)
    action_taken: Mapping[str, Any] = field(default_factory=dict)


def actions_propose_many(
    *, proposals: Sequence[NewProposal], actor: str = "policy"
) -> tuple[dict[str, int], dict[str, int]]:
    """Store the proposals not stored before (by idempotency key), each with its decision-log entry,
    and route them through the policy: one transaction, a constant number of queries whatever their
    number. Returns (idempotency key → action id of the new ones, count per routed status).

    A concurrent writer storing the same key first makes the insert fail; the caller may simply call
    again, and the second call stores only what is still missing.

    A proposal of a kind nothing can carry out now (``approvals.executors.kind_refusals``: an SMS
    without an SMS provider) is not stored, so it is never approved only to fail: it is left out of
    the result, and the caller's next run (a playbook's) proposes it again once it can go out.
    """
    keyed = {p.idempotency_key: p for p in proposals}
    if not keyed:
        return {}, {}
    with transaction.atomic():
        existing = set(
            ProposedAction.objects.filter(idempotency_key__in=list(keyed)).values_list(
                "idempotency_key", flat=True
            )
        )
        new = {key: p for key, p in keyed.items() if key not in existing}
        held = {
            kd for kd in {(p.kind, p.domain) for p in new.values()} if kind_refusals(kind=kd[0], domain=kd[1])
        }
        if held:
            logger.info("not proposed, nothing can carry them out now: %s", sorted(held))
            new = {key: p for key, p in new.items() if (p.kind, p.domain) not in held}
        if not new:
            return {}, {}
        unscanned = [key for key, p in new.items() if p.compliance_flags is None]
        scanned = dict(
            zip(unscanned, outbound_flags([(new[k].kind, new[k].payload) for k in unscanned]), strict=True)
        )
        insert_many(
            ProposedAction,
            [
                ProposedAction(
                    kind=p.kind,
                    domain=p.domain,
                    lead_id=p.lead_id,
                    payload=dict(p.payload),
                    rationale=p.rationale,
                    confidence=p.confidence,
                    risk_level=p.risk_level,
                    idempotency_key=key,
                    model_version_id=p.model_version_id,
                    proposed_by=p.proposed_by,
                    matched_rule=p.matched_rule[:200],
                    compliance_flags=list(scanned[key] if p.compliance_flags is None else p.compliance_flags),
                    confidence_source=p.confidence_source,
                )
                for key, p in new.items()
            ],
        )
        stored = list(
            ProposedAction.objects.filter(idempotency_key__in=list(new)).values_list(
                "idempotency_key", "id", "correlation_id"
            )
        )
        decision_log_append_many(
            entries=[
                LogEntry(
                    event_type=EventType.ACTION_PROPOSED,
                    actor=new[key].proposed_by,
                    subject_type="proposed_action",
                    subject_id=action_id,
                    correlation_id=correlation_id,
                    model_version=new[key].model_version,
                    input_context=new[key].input_context,
                    prediction={
                        "confidence": new[key].confidence,
                        "confidence_source": str(new[key].confidence_source),
                        "risk_level": new[key].risk_level,
                        **new[key].prediction,
                    },
                    action_taken={
                        "kind": new[key].kind,
                        "target_system": "",
                        "status": ActionStatus.PROPOSED,
                        **new[key].action_taken,
                    },
                )
                for key, action_id, correlation_id in stored
            ]
        )
        ids = {key: action_id for key, action_id, _ in stored}
        routed = actions_route_many(action_ids=list(ids.values()), actor=actor)
    return ids, routed


def action_model_label(action: ProposedAction) -> str:
    """The label of the model version behind ``action`` (empty when no model proposed it)."""
    return action.model_version.label if action.model_version else ""
