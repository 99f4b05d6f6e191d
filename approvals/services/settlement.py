"""The life cycle's moves and ends: ``_move`` (every status change goes through the state machine
here, with the timestamps and hash it implies, and queues the integration's callback), and the
settling of actions that are carried out, fail or are withdrawn."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agentops.bulk import update_many
from approvals.callbacks import CALLBACK_STATUSES
from approvals.choices import MESSAGE_KINDS, ActionStatus
from approvals.models import ProposedAction
from approvals.payload_hash import payload_sha256
from approvals.services.callback_delivery import callback_enqueue
from approvals.states import ACTION_STATES, UNSENT_STATUSES
from audit.bulk import LogEntry, decision_log_append_many
from audit.choices import EventType


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
    work (``actions_cancel_unsent``). An executed or failed action passes through ``executing``; an
    action no longer in a state that allows ``to`` is left as it is and not counted, so running this
    twice changes nothing. One transaction, constant queries. Returns how many reached each end.
    """
    wanted = {o.action_id: o for o in outcomes}
    counts: dict[str, int] = {}
    for action in _settle(wanted, actor=actor):
        counts[wanted[action.pk].to] = counts.get(wanted[action.pk].to, 0) + 1
    return counts


def _settle(wanted: Mapping[int, Settled], *, actor: str) -> list[ProposedAction]:
    """``actions_settle_many``'s work; returns the actions it moved."""
    if not wanted:
        return []
    now = timezone.now()
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
            entries.append(execution_entry(action, previous=previous, reason=outcome.detail, actor=actor))
        update_many(ProposedAction, moved, ["status", "execution_started_at", "executed_at", "updated_at"])
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
    cancelled = _settle(
        {pk: Settled(pk, ActionStatus.CANCELLED, reason) for pk in unsent.values_list("pk", flat=True)},
        actor=actor,
    )
    return sorted(action.pk for action in cancelled)
