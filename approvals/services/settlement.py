"""The life cycle's moves and ends: ``_move`` (every status change goes through the state machine
here, with the timestamps and hash it implies, and queues the integration's callback), and the
settling of actions that are carried out, fail or are withdrawn."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from approvals.callbacks import CALLBACK_STATUSES
from approvals.choices import MESSAGE_KINDS, ActionStatus
from approvals.models import ProposedAction
from approvals.payload_hash import payload_sha256
from approvals.services.callback_delivery import callback_enqueue
from approvals.states import ACTION_STATES, UNSENT_STATUSES
from audit.bulk import LogEntry, decision_log_append_many
from audit.choices import EventType
from core.bulk import update_many


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
        transaction.on_commit(lambda: callback_enqueue(action_id=action_id, status=target))
    return fields


@dataclass(frozen=True)
class Settled:
    """How an action ended: ``to`` is executed, failed or cancelled; ``detail`` says what happened;
    ``log`` adds to its decision-log entry (the attempts, the vendor's record id)."""

    action_id: int
    to: str
    detail: str = ""
    log: Mapping[str, Any] = field(default_factory=dict)


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
    """Record many actions' ends at once, each with its log entry, in one transaction
    (``actions_settle``); how many reached each end."""
    with transaction.atomic():
        return actions_settle(outcomes=outcomes, actor=actor)


START_FIELDS = ["status", "execution_started_at", "target_system", "updated_at"]
SETTLE_FIELDS = ["status", "execution_started_at", "executed_at", "updated_at"]


def actions_start(
    *, action_ids: Sequence[int], target: str, actor: str, log: Mapping[str, Any] | None = None
) -> dict[int, ProposedAction]:
    """Lock ``action_ids`` and move those not yet executing to executing (``target`` is where they
    go: a connection's name, or ``agentops``), each with its log entry; the locked actions by id.
    Actions in any other state than approved, failed or executing are returned unchanged for the
    caller to skip. In the caller's transaction (the outbox's, which has just checked its lease);
    constant queries."""
    now = timezone.now()
    actions = {
        a.pk: a
        for a in ProposedAction.objects.select_for_update().filter(pk__in=list(action_ids)).order_by("pk")
    }
    moved, entries = [], []
    for action in actions.values():
        if action.status == ActionStatus.EXECUTING or not ACTION_STATES.can(
            action.status, ActionStatus.EXECUTING
        ):
            continue
        previous = action.status
        _move(action, ActionStatus.EXECUTING, now)
        action.target_system = target[:20]
        moved.append(action)
        entries.append(
            execution_entry(
                action,
                previous=previous,
                reason="execution started",
                actor=actor,
                connection=target,
                **(log or {}),
            )
        )
    update_many(ProposedAction, moved, START_FIELDS)
    decision_log_append_many(entries=entries)
    return actions


def _path(previous: str, to: str) -> list[str]:
    if previous == ActionStatus.EXECUTING:
        # The state machine cancels only what has not started: a started action fails instead.
        return [ActionStatus.FAILED if to == ActionStatus.CANCELLED else to]
    if to == ActionStatus.CANCELLED:
        return [to]
    return [ActionStatus.EXECUTING, to]


def actions_settle(*, outcomes: Sequence[Settled], actor: str) -> dict[str, int]:
    """End each action as its outcome says (executed, failed or cancelled), through the state
    machine, each with its log entry; how many reached each end. An action that has not started
    passes through ``executing``; one already in a final state (or decided otherwise) is left alone
    and not counted, so settling twice changes nothing. In the caller's transaction; constant queries."""
    counts: dict[str, int] = {}
    for action in _settle({o.action_id: o for o in outcomes}, actor=actor):
        counts[action.status] = counts.get(action.status, 0) + 1
    return counts


def _settle(wanted: Mapping[int, Settled], *, actor: str) -> list[ProposedAction]:
    """``actions_settle``'s work; returns the actions it moved."""
    if not wanted:
        return []
    now = timezone.now()
    moved, entries = [], []
    for action in ProposedAction.objects.select_for_update().filter(pk__in=list(wanted)).order_by("pk"):
        outcome = wanted[action.pk]
        previous = action.status
        path = _path(previous, outcome.to)
        if not ACTION_STATES.can(previous, path[0]):
            continue
        for step in path:
            _move(action, step, now)
        moved.append(action)
        entries.append(
            execution_entry(action, previous=previous, reason=outcome.detail, actor=actor, **outcome.log)
        )
    update_many(ProposedAction, moved, SETTLE_FIELDS)
    decision_log_append_many(entries=entries)
    return moved


def actions_cancel_unsent(
    *,
    reason: str,
    actor: str,
    action_ids: Iterable[int | None] = (),
    lead_ids: Iterable[int] = (),
    kinds: Iterable[str] = MESSAGE_KINDS,
) -> list[int]:
    """Withdraw work that has not been carried out yet: of the actions ``action_ids``, and of the
    actions of ``kinds`` (a contact's messages, by default) on the leads ``lead_ids``, every one still
    proposed, pending or approved is cancelled with ``reason``, each with its log entry (and its
    integration's callback). Returns the ids cancelled, in order. What already went out, or was
    decided otherwise, is left as it is, so running this twice cancels nothing more.

    One service for every withdrawal (an opt-out, a consent withdrawal, an erasure, a cadence
    stopped), so a message that must not go out is cancelled the same way whoever asks.
    """
    ids = [pk for pk in action_ids if pk is not None]
    leads, kinds = list(lead_ids), list(kinds)
    if not ids and not (leads and kinds):
        return []
    unsent = ProposedAction.objects.filter(status__in=list(UNSENT_STATUSES)).filter(
        Q(pk__in=ids) | Q(lead_id__in=leads, kind__in=kinds)
    )
    with transaction.atomic():
        cancelled = _settle(
            {pk: Settled(pk, ActionStatus.CANCELLED, reason) for pk in unsent.values_list("pk", flat=True)},
            actor=actor,
        )
    return sorted(action.pk for action in cancelled)
