"""People's decisions on queued actions: approve (with edits), reject, defer, bulk approve; four-eyes
and the approved-what-you-read check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from approvals.choices import (
    ActionKind,
    ActionStatus,
    DecisionOutcome,
    RejectionReason,
    RiskLevel,
)
from approvals.models import Decision, ProposedAction
from approvals.payload_hash import payload_sha256
from approvals.schemas import PayloadError, validate_fields
from approvals.scoping import actions_decidable
from approvals.services.proposals import action_model_label
from approvals.services.settlement import _move
from approvals.states import ACTION_STATES
from audit.choices import EventType
from audit.services import decision_log_append
from core import events
from core.errors import CONFLICT, FORBIDDEN, AppError

#: Where a person decided: the decision-log entry names it (``approval.channel``).
DECISION_CHANNELS = ("web", "api", "email", "slack")

#: A rejection for "Other" says what the reason is: it is the only one the feedback page cannot name.
OTHER_NEEDS_A_COMMENT = "Say what the other reason is: a rejection for “Other” needs a comment."


class DecisionError(AppError):
    """A decision that cannot be taken; ``code`` says which rule refused it."""

    statuses = {
        "already_decided": CONFLICT,
        "payload_changed": CONFLICT,
        "self_approval": FORBIDDEN,
        "duplicate_approval": FORBIDDEN,
    }


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
            "payload_changed",
            f"payload_sha256: the payload {what}; read it again, then approve",
            field="payload_sha256",
        )

    def extra(self) -> dict[str, Any]:
        return {"payload_sha256": self.current_sha256, "changes": self.changes}


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
    user: User,
    seen_payload_sha256: str,
    edits: Mapping[str, Any] | None = None,
    comment: str = "",
    bulk: bool = False,
    channel: str = "web",
) -> ProposedAction:
    """Approve (optionally editing the payload first). ``bulk``: one of many approved at once
    (``actions_bulk_approve``), recorded as such on the decision. Four-eyes: nobody approves what they proposed,
    and a two-approval action needs two different people, neither of them its editor twice over.

    ``seen_payload_sha256`` is the hash (``payload_sha256``) of the payload the approver read (and
    edited, with ``edits``): if another approver's edit changed it since, nothing is written and
    ``PayloadNotSeen`` (``payload_changed``) says what changed. An approval never counts for
    content its approver did not see. ``channel`` (``DECISION_CHANNELS``) is where the approver
    decided; the decision-log entry names it, and ``actions.decided`` is published on commit.

    Concurrency-safe: the action row is locked, so of two people deciding at once one wins and the
    other gets ``already_decided`` naming who decided.
    """
    _check_channel(channel)
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
            model_version=action_model_label(action),
            bulk=bulk,
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
                "bulk": bulk,
                "channel": channel,
            },
        )
        events.publish("actions.decided", action_id=action.pk)
    return action


def _check_channel(channel: str) -> None:
    if channel not in DECISION_CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(DECISION_CHANNELS)}, got {channel!r}")


def payload_changes_since(*, action: ProposedAction, seen_sha256: str) -> dict[str, Any] | None:
    """What changed in ``action``'s payload since the version whose hash is ``seen_sha256``: field →
    {"from", "to"}; ``{}`` when it is the current one; None when no version of it has that hash."""
    if seen_sha256 == payload_sha256(action.payload):
        return {}
    # The payload's earlier versions are kept on its decisions: find the one the approver saw.
    versions = action.decisions.order_by("created_at", "id").values_list("original_payload", "final_payload")
    known = next(
        (p for pair in versions for p in pair if isinstance(p, Mapping) and payload_sha256(p) == seen_sha256),
        None,
    )
    return _diff(known, action.payload) if known is not None else None


def _check_seen(action: ProposedAction, seen: str) -> None:
    """Raise ``PayloadNotSeen`` unless ``seen`` is the hash of the action's payload as it is now."""
    changes = payload_changes_since(action=action, seen_sha256=seen)
    if changes == {}:
        return
    raise PayloadNotSeen(seen_sha256=seen, current_sha256=payload_sha256(action.payload), changes=changes)


def _log_human_decision(
    action: ProposedAction,
    user: User,
    *,
    approval: dict[str, Any],
    action_taken: dict[str, Any] | None = None,
) -> None:
    """The decision-log entry of a person's decision on ``action`` (call inside its transaction)."""
    decision_log_append(
        event_type=EventType.ACTION_DECIDED,
        actor=f"user:{user.get_username()}",
        subject_type="proposed_action",
        subject_id=action.pk,
        correlation_id=action.correlation_id,
        model_version=action_model_label(action),
        action_taken=action_taken or {"kind": action.kind, "status": action.status},
        approval={"approver": user.get_username(), **approval},
    )


def action_reject(
    *, action_id: int, user: User, reason_code: str, comment: str = "", channel: str = "web"
) -> ProposedAction:
    """Reject with a reason code (required); the action is final and becomes a negative example.
    ``channel``: where the approver decided, as for ``action_approve``."""
    _check_channel(channel)
    if reason_code not in RejectionReason.values:
        raise DecisionError(
            "reason_required", f"reason_code: one of {', '.join(RejectionReason.values)} is required"
        )
    if reason_code == RejectionReason.OTHER and not comment.strip():
        raise DecisionError("comment_required", f"comment: {OTHER_NEEDS_A_COMMENT}")
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
            model_version=action_model_label(action),
        )
        action.save(update_fields=_move(action, ActionStatus.REJECTED, timezone.now()))
        _log_human_decision(
            action, user, approval={"decision": "reject", "reason_code": reason_code, "channel": channel}
        )
        events.publish("actions.decided", action_id=action.pk)
    return action


def action_defer(*, action_id: int, user: User, comment: str = "") -> ProposedAction:
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
            model_version=action_model_label(action),
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
    *, action_ids: Sequence[int], user: User, seen_payload_sha256: Mapping[int, str]
) -> list[BulkApproveOutcome]:
    """Approve several low-risk items, each on its own through ``action_approve`` (its own lock and
    transaction, four-eyes rules included), and say what happened to each.

    ``seen_payload_sha256`` maps each id to the hash of the payload the approver was shown; an item
    without one, or whose payload changed since, is refused like any other (``action_approve``).
    Only low-risk items the user may decide (``approvals.scoping.actions_decidable``) may be
    approved in bulk; anything else is refused item by item, so one refusal never blocks the rest.
    """
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
                action_id=action_id,
                user=user,
                seen_payload_sha256=seen_payload_sha256.get(action_id, ""),
                bulk=True,
            )
        except DecisionError as exc:
            message = str(exc) if f"#{action_id} " in str(exc) else f"action #{action_id}: {exc}"
            outcomes.append(BulkApproveOutcome(action_id, exc.code, message))
        else:
            outcomes.append(BulkApproveOutcome(action_id, status=action.status))
    return outcomes
