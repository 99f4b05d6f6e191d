"""Delivering decision callbacks to integrations: gather the action, sign and POST it
(``approvals.callbacks``, no ORM), record the attempt, retry with back-off."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from approvals.callbacks import (
    CALLBACK_STATUSES,
    FAILED,
    CallbackFailed,
    callback_body,
    callback_post,
    retry_delay,
)
from approvals.executors import callback_hold
from approvals.models import Decision, ProposedAction

logger = logging.getLogger(__name__)


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
#: The task that delivers a callback, queued by its dotted path (the services do not import tasks).
DELIVER_TASK = "approvals.tasks.callback_deliver_task"


def callback_enqueue(*, action_id: int, status: str) -> None:
    """Queue the callback telling an action's integration that it reached ``status`` (call once that
    change has committed). Each status an action reaches is a delivery of its own, keyed by it in the
    task ledger: a cancellation while the approval's callback is still going out is told too."""
    from django_q.tasks import async_task

    async_task(DELIVER_TASK, action_id, 1, status, task_name=f"callback for action #{action_id}: {status}")


def _schedule(action_id: int, attempt: int, status: str, *, run_at: datetime) -> None:
    """Run delivery attempt ``attempt`` of the ``status`` callback at ``run_at`` (a one-off schedule,
    deleted once it has run)."""
    from django_q.models import Schedule
    from django_q.tasks import schedule

    schedule(DELIVER_TASK, action_id, attempt, status, schedule_type=Schedule.ONCE, next_run=run_at)


def action_callback_deliver(*, action_id: int, attempt: int = 1, status: str = "") -> str:
    """POST the action, signed, to its callback URL, saying it reached ``status`` (its status now when
    not given: a callback queued before the status was part of the task); record the attempt on the
    action; after a failure schedule the next attempt with back-off (``approvals.callbacks.retry_delay``)
    until ``AGENTOPS_CALLBACK_MAX_ATTEMPTS``. Returns ``delivered``, ``retrying``, ``gave_up``,
    ``skipped`` or ``held`` (a kill switch holds callbacks: rescheduled, nothing sent or counted).

    The body's ``status`` is the one this callback is about, even if the action has moved on since
    (an approved action being executed, or cancelled): each is told once, in its own callback. A
    callback that is retried may arrive after a later one; ``rejected``, ``expired`` and
    ``cancelled`` are final, so a receiver keeps those over ``approved``.

    Runs outside any transaction while the request is in flight, so no row lock is held on the network.
    Receivers must be idempotent: a retry after a lost acknowledgement repeats the same callback.
    """
    action = ProposedAction.objects.filter(pk=action_id).first()
    if action is None or not action.callback_url:
        return "skipped"
    status = status or action.status
    if status not in CALLBACK_STATUSES:
        return "skipped"
    held = callback_hold(agent=action.proposed_by)
    if held:
        # Held, not failed: nothing is sent, no attempt is counted, and the same attempt is tried
        # again later, until the switch is released (``held`` is returned).
        logger.warning("callback for action #%s held: %s", action_id, held)
        _schedule(action_id, attempt, status, run_at=timezone.now() + CALLBACK_HOLD_RECHECK)
        return "held"
    decisions = action.decisions.select_related("decided_by").order_by("created_at", "id")
    body = callback_body(
        action_id=action.pk,
        kind=action.kind,
        status=status,
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
    _schedule(action_id, attempt + 1, status, run_at=now + timedelta(seconds=delay))
    return "retrying"
