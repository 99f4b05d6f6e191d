from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from agentops.bulk import insert_many, update_many
from approvals.callbacks import (
    CALLBACK_STATUSES,
    FAILED,
    CallbackFailed,
    CallbackUrlRefused,
    callback_body,
    callback_post,
    callback_url_check,
    retry_delay,
)
from approvals.choices import (
    OUTBOUND_MESSAGE_KINDS,
    READ_ONLY_KINDS,
    ActionKind,
    ActionStatus,
    ConfidenceSource,
    DecisionOutcome,
    Domain,
    RejectionReason,
    RiskLevel,
    TimeoutAction,
)
from approvals.models import ApprovalPolicy, Decision, EscalationStep, ProposedAction
from approvals.policy import AUTO, BLOCK, ActionFacts, PolicyRule, evaluate_policy
from approvals.risk import risk_with_floor
from approvals.schemas import (
    PayloadError,
    default_domain,
    reserved_kind_refusal,
    validate_fields,
    validate_payload,
)
from approvals.states import ACTION_STATES
from approvals.targets import LeadContact, TargetMismatch, target_check
from audit.bulk import LogEntry, decision_log_append_many
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
        compliance_flags = _outbound_flags([(str(kind), payload)])[0]
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
                model_version=_model_label(action),
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
        if not new:
            return {}, {}
        unscanned = [key for key, p in new.items() if p.compliance_flags is None]
        scanned = dict(
            zip(unscanned, _outbound_flags([(new[k].kind, new[k].payload) for k in unscanned]), strict=True)
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


def _outbound_flags(items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[list[str]]:
    """The compliance flags of each (kind, payload): every text a person outside receives is scanned
    (``sales.selectors.compliance_scanner``: the admin's patterns, read once per call); other kinds
    get none. Whoever proposed it, an agent cannot choose its flags."""
    if not any(kind in OUTBOUND_MESSAGE_KINDS for kind, _ in items):
        return [[] for _ in items]
    from sales.selectors import compliance_scanner

    scan = compliance_scanner()
    channels = {ActionKind.SEND_EMAIL: "email", ActionKind.SEND_SMS: "sms"}
    return [
        scan(
            subject=str(payload.get("subject", "")),
            body=str(payload.get("body", "")),
            channel=channels.get(ActionKind(kind), "reply"),
        )
        if kind in OUTBOUND_MESSAGE_KINDS
        else []
        for kind, payload in items
    ]


def _move(action: ProposedAction, target: str, now: datetime) -> list[str]:
    """Set a new status through the state machine, with the timestamps and approved-payload hash it
    implies; return the fields to save. Raises ``IllegalTransition`` before changing anything."""
    ACTION_STATES.check(action.status, target)
    action.status = target
    fields = ["status", "updated_at"]
    if target in (ActionStatus.APPROVED, ActionStatus.REJECTED, ActionStatus.EXPIRED):
        action.decided_at = now
        fields.append("decided_at")
    if target == ActionStatus.APPROVED:
        action.approved_payload_sha256 = payload_sha256(action.payload)
        fields.append("approved_payload_sha256")
    if target == ActionStatus.EXECUTING:
        action.execution_started_at = now
        fields.append("execution_started_at")
    if target == ActionStatus.EXECUTED:
        action.executed_at = now
        fields.append("executed_at")
    if target in CALLBACK_STATUSES and action.callback_url:
        # After commit, so the integration is never told about a decision that was rolled back.
        action_id = action.pk
        transaction.on_commit(lambda: _enqueue_callback(action_id))
    return fields


def _enqueue_callback(action_id: int) -> None:
    from approvals.tasks import enqueue_callback

    enqueue_callback(action_id)


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
        action.save(update_fields=_move(action, str(to), timezone.now()))
        decision_log_append(
            event_type=EventType.ACTION_TRANSITIONED,
            actor=actor,
            subject_type="proposed_action",
            subject_id=action.pk,
            correlation_id=action.correlation_id,
            action_taken={"kind": action.kind, "from": previous, "to": action.status, "reason": reason},
        )
    return action


# --- Routing through the approval policy -------------------------------------------------------


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


def _facts_with(action: ProposedAction, *, score: int | None, drift_state: str) -> ActionFacts:
    """The policy's facts about an action, given its lead's acting score and the model's drift state."""
    lead = action.lead
    return ActionFacts(
        kind=action.kind,
        domain=action.domain,
        risk_level=action.risk_level,
        confidence=action.confidence,
        confidence_source=action.confidence_source,
        read_only=action.kind in READ_ONLY_KINDS,
        score=score,
        deal_value=lead.deal_value if lead else None,
        account_value=lead.account.account_value if lead and lead.account else None,
        bulk_size=action.bulk_size,
        compliance_flags=frozenset(action.compliance_flags or []),
        drift_state=drift_state if action.domain == Domain.SALES else "ok",
        ownership_change=action.kind == ActionKind.ASSIGN_OWNER
        and lead is not None
        and lead.owner_id is not None,
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
    from scoring.monitoring import model_drift_state
    from scoring.selectors import acting_score_values

    if not action_ids:
        return {}
    rules = _policy_rules()
    with transaction.atomic():
        actions = list(
            ProposedAction.objects.select_for_update(of=("self",))
            .select_related("lead__account", "model_version")
            .defer("model_version__artifact", "model_version__reference")
            .filter(pk__in=list(action_ids))
            .order_by("pk")
        )
        scores = acting_score_values([a.lead_id for a in actions if a.lead_id is not None])
        drift = model_drift_state() if any(a.domain == Domain.SALES for a in actions) else "ok"
        decided = [
            (
                action,
                evaluate_policy(
                    _facts_with(
                        action,
                        score=scores.get(action.lead_id) if action.lead_id else None,
                        drift_state=drift,
                    ),
                    rules,
                ),
            )
            for action in actions
        ]
        names = {decision.approver_group for _, decision in decided if decision.approver_group}
        groups = {g.name: g for g in Group.objects.filter(name__in=names)} if names else {}
        now = timezone.now()
        decisions: list[Decision] = []
        entries: list[LogEntry] = []
        counts: dict[str, int] = {}
        for action, decision in decided:
            target = {AUTO: ActionStatus.APPROVED, BLOCK: ActionStatus.REJECTED}.get(
                decision.outcome, ActionStatus.PENDING_APPROVAL
            )
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


# --- Human decisions ---------------------------------------------------------------------------


class DecisionError(Exception):
    """A decision that cannot be taken; ``code`` says which rule refused it."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class PayloadNotSeen(DecisionError):
    """An approval of other content than the action holds now (``payload_changed``): someone edited
    it after the approver read it. ``current_sha256`` is the hash to approve once the approver has
    read the new content; ``changes`` is field → {"from", "to"} between what they saw and what is
    there now, or None when no version of this action's payload has the hash they sent."""

    def __init__(self, *, seen_sha256: str, current_sha256: str, changes: dict[str, Any] | None) -> None:
        self.seen_sha256 = seen_sha256
        self.current_sha256 = current_sha256
        self.changes = changes
        what = (
            f"changed since you read it ({', '.join(changes)})"
            if changes
            else "not the one you read (it changed since, or the hash is of other content)"
        )
        super().__init__(
            "payload_changed", f"payload_sha256: the payload {what}; read it again, then approve"
        )


def _locked_pending(action_id: int) -> ProposedAction:
    action = (
        ProposedAction.objects.select_for_update(of=("self",))
        .select_related("model_version")
        .get(pk=action_id)
    )
    if action.status != ActionStatus.PENDING_APPROVAL:
        last = action.decisions.exclude(outcome=DecisionOutcome.DEFER).select_related("decided_by").first()
        who = last.decided_by.get_username() if last and last.decided_by else "the policy"
        raise DecisionError(
            "already_decided", f"action #{action.pk} is already {action.status} (decided by {who})"
        )
    return action


def validate_edits(
    original: Mapping[str, Any], edits: Mapping[str, Any], *, kind: str | None = None
) -> dict[str, Any]:
    """An approver may change the values of the proposal's fields, not add fields or change their types;
    with ``kind``, each edited value must also fit that kind's schema (``approvals.schemas``)."""
    merged = dict(original)
    for key, value in edits.items():
        if key not in original:
            raise DecisionError("invalid_edit", f"payload.{key}: not a field of this action")
        before = original[key]
        same_kind = isinstance(value, type(before)) or (
            isinstance(value, int | float) and isinstance(before, int | float) and not isinstance(value, bool)
        )
        if before is not None and not same_kind:
            raise DecisionError(
                "invalid_edit",
                f"payload.{key}: must stay a {type(before).__name__}, got {type(value).__name__}",
            )
        merged[key] = value
    if kind is not None:
        try:
            validate_fields(kind, edits)
        except PayloadError as exc:
            raise DecisionError("invalid_edit", str(exc)) from None
    return merged


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: {"from": before.get(k), "to": after.get(k)}
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    }


def action_approve(
    *,
    action_id: int,
    user: Any,
    seen_payload_sha256: str,
    edits: Mapping[str, Any] | None = None,
    comment: str = "",
) -> ProposedAction:
    """Approve (optionally editing the payload first). Four-eyes: nobody approves what they proposed,
    and a two-approval action needs two different people, neither of them its editor twice over.

    ``seen_payload_sha256`` is the hash (``payload_sha256``) of the payload the approver read (and
    edited, with ``edits``): if another approver's edit changed it since, nothing is written and
    ``PayloadNotSeen`` (``payload_changed``) says what changed. An approval never counts for
    content its approver did not see.

    Concurrency-safe: the action row is locked, so of two people deciding at once one wins and the
    other gets ``already_decided`` naming who decided.
    """
    if not seen_payload_sha256:
        raise DecisionError(
            "payload_sha256_required",
            "payload_sha256: the hash of the payload you approve is required (read the action first)",
        )
    with transaction.atomic():
        action = _locked_pending(action_id)
        if action.proposed_by_user_id is not None and action.proposed_by_user_id == user.pk:
            raise DecisionError("self_approval", "you proposed this action; someone else must approve it")
        _check_seen(action, seen_payload_sha256)
        original = dict(action.payload)
        if edits and action.kind == ActionKind.CONFIG_CHANGE:
            # Four-eyes: what applies must be what the proposer wrote; an edit would be a change only
            # the approver saw (and could point it at another model or row).
            raise DecisionError(
                "invalid_edit",
                "payload: a configuration change is approved or rejected as proposed; "
                "reject it and propose the change you want in the admin",
            )
        final = validate_edits(original, edits, kind=action.kind) if edits else original
        edited = final != original
        if edited:
            # An edit invalidates earlier approvals: they approved other content.
            action.payload = final
            action.edited_by = user
        current_hash = payload_sha256(final)
        approvers = set(
            action.decisions.filter(
                outcome__in=[DecisionOutcome.APPROVE, DecisionOutcome.EDIT_APPROVE],
                payload_sha256=current_hash,
            ).values_list("decided_by_id", flat=True)
        )
        if user.pk in approvers:
            raise DecisionError(
                "duplicate_approval", "you already approved this action; a second person must"
            )
        if action.required_approvals >= 2 and action.edited_by_id == user.pk and approvers:
            raise DecisionError(
                "self_approval", "you edited this action; someone else must give the second approval"
            )
        decision = Decision.objects.create(
            action=action,
            outcome=DecisionOutcome.EDIT_APPROVE if edited else DecisionOutcome.APPROVE,
            decided_by=user,
            comment=comment,
            original_payload=original,
            final_payload=final,
            payload_diff=_diff(original, final),
            payload_sha256=current_hash,
            time_to_decide=timezone.now() - action.created_at,
            model_version=_model_label(action),
        )
        approvers.add(user.pk)
        fields = ["payload", "edited_by", "updated_at"]
        quorum = len(approvers) >= max(action.required_approvals, 1)
        if quorum:
            fields += _move(action, ActionStatus.APPROVED, timezone.now())
        action.save(update_fields=fields)
        _log_human_decision(
            action,
            user,
            action_taken={"kind": action.kind, "status": action.status, "edited": edited},
            approval={
                "decision": decision.outcome,
                "approvals": len(approvers),
                "required": action.required_approvals,
                "payload_sha256": current_hash,
            },
        )
    return action


def _check_seen(action: ProposedAction, seen: str) -> None:
    """Raise ``PayloadNotSeen`` unless ``seen`` is the hash of the action's payload as it is now."""
    current = payload_sha256(action.payload)
    if seen == current:
        return
    # The payload's earlier versions are kept on its decisions: find the one the approver saw.
    versions = action.decisions.order_by("created_at", "id").values_list("original_payload", "final_payload")
    known = next(
        (p for pair in versions for p in pair if isinstance(p, Mapping) and payload_sha256(p) == seen), None
    )
    raise PayloadNotSeen(
        seen_sha256=seen,
        current_sha256=current,
        changes=_diff(known, action.payload) if known is not None else None,
    )


def _model_label(action: ProposedAction) -> str:
    return action.model_version.label if action.model_version else ""


def _log_human_decision(
    action: ProposedAction, user: Any, *, approval: dict[str, Any], action_taken: dict[str, Any] | None = None
) -> None:
    """The decision-log entry of a person's decision on ``action`` (call inside its transaction)."""
    decision_log_append(
        event_type=EventType.ACTION_DECIDED,
        actor=f"user:{user.get_username()}",
        subject_type="proposed_action",
        subject_id=action.pk,
        correlation_id=action.correlation_id,
        model_version=_model_label(action),
        action_taken=action_taken or {"kind": action.kind, "status": action.status},
        approval={"approver": user.get_username(), **approval},
    )


def action_reject(*, action_id: int, user: Any, reason_code: str, comment: str = "") -> ProposedAction:
    """Reject with a reason code (required); the action is final and becomes a negative example."""
    if reason_code not in RejectionReason.values:
        raise DecisionError(
            "reason_required", f"reason_code: one of {', '.join(RejectionReason.values)} is required"
        )
    with transaction.atomic():
        action = _locked_pending(action_id)
        ACTION_STATES.check(action.status, ActionStatus.REJECTED)
        Decision.objects.create(
            action=action,
            outcome=DecisionOutcome.REJECT,
            decided_by=user,
            reason_code=reason_code,
            comment=comment,
            original_payload=action.payload,
            final_payload=action.payload,
            time_to_decide=timezone.now() - action.created_at,
            model_version=_model_label(action),
        )
        action.save(update_fields=_move(action, ActionStatus.REJECTED, timezone.now()))
        _log_human_decision(action, user, approval={"decision": "reject", "reason_code": reason_code})
    return action


def action_defer(*, action_id: int, user: Any, comment: str = "") -> ProposedAction:
    """Put an item aside without deciding it: it stays pending (its SLA keeps running), and the
    deferral is recorded as a decision and in the decision log, so the queue can say who deferred it."""
    with transaction.atomic():
        action = _locked_pending(action_id)
        Decision.objects.create(
            action=action,
            outcome=DecisionOutcome.DEFER,
            decided_by=user,
            comment=comment,
            original_payload=action.payload,
            final_payload=action.payload,
            model_version=_model_label(action),
        )
        _log_human_decision(action, user, approval={"decision": "defer"})
    return action


@dataclass(frozen=True)
class BulkApproveOutcome:
    """What happened to one item of a bulk approval; ``code`` is empty when it was approved."""

    action_id: int
    code: str = ""
    message: str = ""
    status: str = ""

    @property
    def approved(self) -> bool:
        return not self.code


BULK_APPROVE_MAX = 200


def actions_bulk_approve(
    *, action_ids: Sequence[int], user: Any, seen_payload_sha256: Mapping[int, str]
) -> list[BulkApproveOutcome]:
    """Approve several low-risk items, each on its own through ``action_approve`` (its own lock and
    transaction, four-eyes rules included), and say what happened to each.

    ``seen_payload_sha256`` maps each id to the hash of the payload the approver was shown; an item
    without one, or whose payload changed since, is refused like any other (``action_approve``).
    Only low-risk items the user may decide (``security.selectors.actions_decidable``) may be
    approved in bulk; anything else is refused item by item, so one refusal never blocks the rest.
    """
    from security.selectors import actions_decidable

    if len(action_ids) > BULK_APPROVE_MAX:
        raise DecisionError("too_many", f"at most {BULK_APPROVE_MAX} items can be approved at once")
    risks = dict(actions_decidable(user=user).filter(pk__in=action_ids).values_list("pk", "risk_level"))
    outcomes: list[BulkApproveOutcome] = []
    for action_id in dict.fromkeys(action_ids):
        risk = risks.get(action_id)
        if risk is None:
            outcomes.append(BulkApproveOutcome(action_id, "not_found", f"action #{action_id} not found"))
            continue
        if risk != RiskLevel.LOW:
            outcomes.append(
                BulkApproveOutcome(
                    action_id, "not_low_risk", f"action #{action_id} is {risk} risk; open it to decide"
                )
            )
            continue
        try:
            action = action_approve(
                action_id=action_id, user=user, seen_payload_sha256=seen_payload_sha256.get(action_id, "")
            )
        except DecisionError as exc:
            message = str(exc) if f"#{action_id} " in str(exc) else f"action #{action_id}: {exc}"
            outcomes.append(BulkApproveOutcome(action_id, exc.code, message))
        else:
            outcomes.append(BulkApproveOutcome(action_id, status=action.status))
    return outcomes


class PayloadChanged(Exception):
    """The payload about to be executed is not the one that was approved."""


def action_check_approved_payload(*, action: ProposedAction) -> None:
    """Refuse execution unless the action is approved and its payload hashes to what was approved."""
    if action.status != ActionStatus.APPROVED:
        raise PayloadChanged(f"action #{action.pk} is {action.status}, not approved")
    if payload_sha256(action.payload) != action.approved_payload_sha256:
        raise PayloadChanged(f"action #{action.pk}: payload differs from the approved one; execution refused")


@dataclass(frozen=True)
class Settled:
    """How an action ended: ``to`` is executed, failed or cancelled; ``detail`` says what happened."""

    action_id: int
    to: str
    detail: str = ""


def execution_entry(
    action: ProposedAction, *, previous: str, reason: str, actor: str, **extra: Any
) -> LogEntry:
    """The decision-log entry of an action's execution step (started, executed, failed, cancelled),
    whoever carried it out: AgentOps itself or a connector."""
    return LogEntry(
        event_type=EventType.ACTION_EXECUTED
        if action.status == ActionStatus.EXECUTED
        else EventType.ACTION_TRANSITIONED,
        actor=actor,
        subject_type="proposed_action",
        subject_id=action.pk,
        correlation_id=action.correlation_id,
        action_taken={
            "kind": action.kind,
            "from": previous,
            "to": action.status,
            "target_system": action.target_system or "agentops",
            "reason": reason,
            **extra,
        },
    )


def actions_settle_many(*, outcomes: Sequence[Settled], actor: str) -> dict[str, int]:
    """Record many actions' ends at once, through the state machine, each with its log entry.

    For work AgentOps does itself (enrolling a lead in its own cadence) and for withdrawing queued
    work (an opt-out cancels every message not yet sent). An executed or failed action passes
    through ``executing``; an action no longer in a state that allows ``to`` is left as it is and
    not counted, so running this twice changes nothing. One transaction, constant queries.
    """
    wanted = {o.action_id: o for o in outcomes}
    if not wanted:
        return {}
    now = timezone.now()
    counts: dict[str, int] = {}
    with transaction.atomic():
        actions = list(ProposedAction.objects.select_for_update().filter(pk__in=list(wanted)).order_by("pk"))
        moved, entries = [], []
        for action in actions:
            outcome = wanted[action.pk]
            path = (
                [outcome.to] if outcome.to == ActionStatus.CANCELLED else [ActionStatus.EXECUTING, outcome.to]
            )
            previous = action.status
            if not ACTION_STATES.can(previous, path[0]):
                continue
            for step in path:
                _move(action, step, now)
            moved.append(action)
            counts[outcome.to] = counts.get(outcome.to, 0) + 1
            entries.append(execution_entry(action, previous=previous, reason=outcome.detail, actor=actor))
        update_many(ProposedAction, moved, ["status", "execution_started_at", "executed_at", "updated_at"])
        decision_log_append_many(entries=entries)
    return counts


# --- SLA timeouts and escalation ---------------------------------------------------------------


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


# --- Proposals from integrations, and decision callbacks ---------------------------------------

logger = logging.getLogger(__name__)


class SubmissionRefused(Exception):
    """A submission that is not stored; ``field`` names the culprit, ``code`` the rule that refused it."""

    def __init__(self, code: str, field: str, message: str) -> None:
        self.code = code
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Submission:
    action: ProposedAction
    created: bool  # False when the idempotency key matched an earlier submission


TargetRef = int | tuple[str, str]


def action_submit(
    *,
    user: Any,
    kind: str,
    payload: Any,
    rationale: str,
    confidence: float,
    idempotency_key: str,
    domain: str = "",
    risk_level: RiskLevel | str = RiskLevel.MEDIUM,
    lead: TargetRef | None = None,
    ticket: TargetRef | None = None,
    target_system: str = "",
    callback_url: str = "",
    api_key: Any = None,
) -> Submission:
    """An integration's proposed tool call: check it against its kind's schema (fail closed), store it
    once per idempotency key, and route it through the approval policy in the same transaction.

    Repeating a key answers with the earlier action (``created`` False) if the same user proposed the
    same kind and payload; otherwise ``SubmissionRefused("idempotency_conflict")``. ``lead`` and
    ``ticket`` are ids or ``(source, external_id)`` pairs; the domain defaults to the target's, then
    the kind's. The proposer is recorded, so four-eyes keeps them from approving it themselves.
    A ``callback_url`` needs the ``api_key`` the proposal came with: the callback is signed with
    its integration's callback secret (``security.selectors.apikey_callback_secret``).
    """
    reserved = reserved_kind_refusal(kind)
    if reserved is not None:  # e.g. config_change: only the admin's change control proposes it
        raise SubmissionRefused("invalid_kind", reserved.field, str(reserved))
    try:
        clean = validate_payload(kind, payload)
    except PayloadError as exc:
        raise SubmissionRefused("invalid_payload", exc.field, str(exc)) from None
    if lead is not None and ticket is not None:
        raise SubmissionRefused(
            "invalid_target", "ticket", "ticket: an action targets a lead or a ticket, not both"
        )
    lead_id = _target_id("lead", lead)
    ticket_id = _target_id("ticket", ticket)
    _check_target(kind, clean, lead_id=lead_id, ticket_id=ticket_id)
    _check_consent(kind, clean, lead_id)
    if domain and domain not in Domain.values:
        raise SubmissionRefused("invalid_domain", "domain", f"domain: one of {', '.join(Domain.values)}")
    # The queue (and so who approves) follows the target, then the kind; the agent may only repeat it.
    belongs = default_domain(kind, has_lead=lead_id is not None, has_ticket=ticket_id is not None)
    if domain and domain != belongs:
        raise SubmissionRefused(
            "invalid_domain", "domain", f"domain: follows the target; this action belongs to {belongs}"
        )
    if callback_url:
        _check_callback_url(callback_url, api_key=api_key)
    try:
        with transaction.atomic():
            action = action_propose(
                kind=kind,
                domain=belongs,
                payload=clean,
                rationale=rationale,
                confidence=confidence,
                # Stored as the agent's own report: the policy does not take it at face value.
                confidence_source=ConfidenceSource.AGENT,
                idempotency_key=idempotency_key,
                proposed_by=f"api:{user.get_username()}"[:100],
                proposed_by_user_id=user.pk,
                # The agent may raise the risk, never lower it below its kind's and payload's floor.
                risk_level=risk_with_floor(str(risk_level), kind, clean),
                lead_id=lead_id,
                ticket_id=ticket_id,
                target_system=target_system,
                callback_url=callback_url,
            )
            action = action_route(action_id=action.pk, actor="policy")
    except DuplicateProposal as duplicate:
        existing = duplicate.existing
        if (
            existing.proposed_by_user_id != user.pk
            or existing.kind != kind
            or payload_sha256(_proposed_payload(existing)) != payload_sha256(clean)
        ):
            raise SubmissionRefused(
                "idempotency_conflict",
                "idempotency_key",
                "idempotency_key: already used for a different proposal; use a new key",
            ) from None
        return Submission(existing, created=False)
    return Submission(action, created=True)


def _target_id(name: str, ref: TargetRef | None) -> int | None:
    from sales.models import Lead
    from support.models import Ticket

    if ref is None:
        return None
    model = Lead if name == "lead" else Ticket
    found = (
        model.objects.filter(pk=ref)
        if isinstance(ref, int)
        else model.objects.filter(source=ref[0], external_id=ref[1])
    ).values_list("pk", flat=True)
    target = next(iter(found), None)
    if target is None:
        raise SubmissionRefused("invalid_target", name, f"{name}: no {name} {ref!r}")
    return int(target)


def _check_target(
    kind: str, payload: Mapping[str, Any], *, lead_id: int | None, ticket_id: int | None
) -> None:
    """Refuse a proposal whose kind does not act on its kind of target, or whose payload names
    another ticket or recipient than its target (``approvals.targets``)."""
    from sales.models import Lead
    from support.models import Ticket

    contact = None
    if lead_id is not None:
        found = Lead.objects.only("email", "phone").get(pk=lead_id)
        contact = LeadContact(email=found.email or "", phone=found.phone or "")
    external_id = (
        Ticket.objects.values_list("external_id", flat=True).get(pk=ticket_id)
        if ticket_id is not None
        else None
    )
    try:
        target_check(kind, payload, lead=contact, ticket=external_id)
    except TargetMismatch as exc:
        raise SubmissionRefused("invalid_target", exc.field, str(exc)) from None


def _check_consent(kind: str, payload: Mapping[str, Any], lead_id: int | None) -> None:
    """A message to a contact who withdrew consent is refused when proposed, naming the recipient
    (``lead``, ``payload.to``, ``payload.cc[1]``); the executor checks again before sending."""
    from privacy.selectors import message_refusals

    refusals = message_refusals(lead_id=lead_id, kind=kind, payload=payload)
    if refusals:
        first = refusals[0]
        raise SubmissionRefused("consent_withdrawn", first.field, "; ".join(map(str, refusals)))


def _check_callback_url(url: str, *, api_key: Any) -> None:
    if not settings.AGENTOPS_CALLBACKS:
        raise SubmissionRefused(
            "callbacks_disabled",
            "callback_url",
            "callback_url: callbacks are not enabled on this server (AGENTOPS_CALLBACKS is off); poll instead",
        )
    try:
        callback_url_check(
            url,
            allowed_hosts=settings.AGENTOPS_CALLBACK_HOSTS,
            require_https=settings.AGENTOPS_CALLBACK_HTTPS_ONLY,
        )
    except CallbackUrlRefused as exc:
        raise SubmissionRefused("invalid_callback_url", "callback_url", f"callback_url: {exc}") from None
    if api_key is None:
        raise SubmissionRefused(
            "callback_needs_api_key",
            "callback_url",
            "callback_url: only a proposal made with an API key can have a callback (it is signed "
            "with that key's callback secret); poll instead",
        )


def _proposed_payload(action: ProposedAction) -> Mapping[str, Any]:
    """The payload as proposed: an approver's edit changes ``payload``, the first decision keeps the original."""
    first = action.decisions.order_by("created_at", "id").first()
    return first.original_payload if first is not None else action.payload


def decision_summary(decision: Decision) -> dict[str, Any]:
    """One decision as integrations see it (callbacks and the API)."""
    return {
        "outcome": decision.outcome,
        "decided_by": decision.decided_by.get_username() if decision.decided_by else None,
        "reason_code": decision.reason_code,
        "comment": decision.comment,
        "payload_diff": decision.payload_diff,
        "created_at": decision.created_at.isoformat(),
    }


#: How soon a callback held by a kill switch is looked at again.
CALLBACK_HOLD_RECHECK = timedelta(minutes=1)


def action_callback_deliver(*, action_id: int, attempt: int = 1) -> str:
    """POST the decided action, signed, to its callback URL; record the attempt on the action; after a
    failure schedule the next attempt with back-off (``approvals.callbacks.retry_delay``) until
    ``AGENTOPS_CALLBACK_MAX_ATTEMPTS``. Returns ``delivered``, ``retrying``, ``gave_up``, ``skipped``
    or ``held`` (a kill switch holds callbacks: rescheduled, nothing sent or counted).

    Runs outside any transaction while the request is in flight, so no row lock is held on the network.
    Receivers must be idempotent: a retry after a lost acknowledgement repeats the same callback.
    """
    action = ProposedAction.objects.filter(pk=action_id).first()
    if action is None or not action.callback_url or action.status not in CALLBACK_STATUSES:
        return "skipped"
    from operations.selectors import kill_switch_hold

    held = kill_switch_hold(activity="callbacks", agent=action.proposed_by)
    if held:
        # Held, not failed: nothing is sent, no attempt is counted, and the same attempt is tried
        # again later, until the switch is released (``held`` is returned).
        from approvals.tasks import schedule_callback_retry

        logger.warning("callback for action #%s held: %s", action_id, held)
        schedule_callback_retry(action_id, attempt, run_at=timezone.now() + CALLBACK_HOLD_RECHECK)
        return "held"
    decisions = action.decisions.select_related("decided_by").order_by("created_at", "id")
    body = callback_body(
        action_id=action.pk,
        kind=action.kind,
        status=action.status,
        decided_at=action.decided_at.isoformat() if action.decided_at else None,
        approved_payload_sha256=action.approved_payload_sha256,
        payload=action.payload,
        decisions=[decision_summary(d) for d in decisions],
        correlation_id=str(action.correlation_id),
        idempotency_key=action.idempotency_key,
    )
    from security.selectors import apikey_callback_secret

    error = ""
    try:
        if not settings.AGENTOPS_CALLBACKS:
            raise CallbackFailed("callbacks are off on this server (AGENTOPS_CALLBACKS)")
        secret = apikey_callback_secret(user_id=action.proposed_by_user_id)
        if not secret:
            raise CallbackFailed(
                "the proposer has no usable API key with a callback secret (rotate its key to get one)"
            )
        callback_post(
            url=action.callback_url,
            body=body,
            secret=secret,
            timeout=settings.AGENTOPS_CALLBACK_TIMEOUT,
            allowed_hosts=settings.AGENTOPS_CALLBACK_HOSTS,
            require_https=settings.AGENTOPS_CALLBACK_HTTPS_ONLY,
        )
    except CallbackFailed as exc:
        error = str(exc)
    now = timezone.now()
    with transaction.atomic():
        locked = ProposedAction.objects.select_for_update().get(pk=action_id)
        locked.callback_attempts = min(locked.callback_attempts + 1, 32767)
        # The agent reads this field back: one generic code, the reason is in the log below only.
        locked.callback_last_error = FAILED if error else ""
        fields = ["callback_attempts", "callback_last_error"]
        if not error:
            locked.callback_delivered_at = now
            fields.append("callback_delivered_at")
        locked.save(update_fields=fields)
    if not error:
        return "delivered"
    if attempt >= settings.AGENTOPS_CALLBACK_MAX_ATTEMPTS:
        logger.error("callback for action #%s gave up after %s attempts: %s", action_id, attempt, error)
        return "gave_up"
    delay = retry_delay(attempt)
    logger.warning(
        "callback for action #%s failed (attempt %s), retrying in %.0fs: %s", action_id, attempt, delay, error
    )
    from approvals.tasks import schedule_callback_retry

    schedule_callback_retry(action_id, attempt + 1, run_at=now + timedelta(seconds=delay))
    return "retrying"
