"""Delivering decision callbacks to integrations: gather the action, sign and POST it
(``approvals.callbacks``, no ORM), record the attempt, retry with back-off."""

from __future__ import annotations

import logging
from datetime import timedelta
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
