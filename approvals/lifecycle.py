"""The execution end of a proposed action's life, for whoever carries it out: start and settle.

Approvals owns ``ProposedAction.status``: executors never set it themselves. Both services run in
the caller's transaction (the outbox's, which has just checked its lease) and take many actions at
once: one lock, one bulk update and one bulk of decision-log entries, whatever the batch size.

- ``actions_start``: approved (or failed, being retried) → executing, logged. An action already
  executing (a retry after an unknown outcome) is left as it is.
- ``actions_settle``: → executed, failed or cancelled, logged. An action that has not started passes
  through ``executing``; a cancellation of a started action is a failure (the state machine cancels
  only what has not started); an action already in a final state is left alone and not counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from agentops.bulk import update_many
from approvals.choices import ActionStatus
from approvals.models import ProposedAction
from approvals.services import _move, execution_entry
from approvals.states import ACTION_STATES
from audit.bulk import decision_log_append_many

START_FIELDS = ["status", "execution_started_at", "target_system", "updated_at"]
SETTLE_FIELDS = ["status", "execution_started_at", "executed_at", "updated_at"]


@dataclass(frozen=True)
class Settlement:
    """How one action ended: ``to`` is executed, failed or cancelled; ``log`` adds to its entry."""

    action_id: int
    to: str
    detail: str = ""
    log: Mapping[str, Any] = field(default_factory=dict)


def actions_start(
    *, action_ids: Sequence[int], target: str, actor: str, log: Mapping[str, Any] | None = None
) -> dict[int, ProposedAction]:
    """Lock ``action_ids`` and move those not yet executing to executing (``target`` is where they
    go: a connection's name, or ``agentops``); the locked actions by id. Actions in any other state
    than approved, failed or executing are returned unchanged for the caller to skip."""
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
        return [ActionStatus.FAILED if to == ActionStatus.CANCELLED else to]
    if to == ActionStatus.CANCELLED:
        return [to]
    return [ActionStatus.EXECUTING, to]


def actions_settle(*, settlements: Sequence[Settlement], actor: str) -> dict[str, int]:
    """End each action as its settlement says, through the state machine, with its log entry;
    counts by final status. Constant queries, in the caller's transaction."""
    wanted = {s.action_id: s for s in settlements}
    if not wanted:
        return {}
    now = timezone.now()
    counts: dict[str, int] = {}
    moved, entries = [], []
    for action in ProposedAction.objects.select_for_update().filter(pk__in=list(wanted)).order_by("pk"):
        settlement = wanted[action.pk]
        previous = action.status
        path = _path(previous, settlement.to)
        if not ACTION_STATES.can(previous, path[0]):
            continue
        for step in path:
            _move(action, step, now)
        moved.append(action)
        counts[action.status] = counts.get(action.status, 0) + 1
        entries.append(
            execution_entry(
                action, previous=previous, reason=settlement.detail, actor=actor, **settlement.log
            )
        )
    update_many(ProposedAction, moved, SETTLE_FIELDS)
    decision_log_append_many(entries=entries)
    return counts
