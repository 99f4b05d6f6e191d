"""Outbound execution of approved actions: exactly once, whatever the network does.

The flow of one action (see docs/connectors.md, "Outbound execution"):

1. ``executions_enqueue`` gives each approved action that goes out (``connectors.routing``) an
   ``ActionExecution`` row: its lease, next try, hold and last error.
2. ``executions_claim`` leases due rows to one worker (``SELECT … FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, a conditional ``UPDATE`` elsewhere); a worker killed mid-call leaves a lease that
   expires, and the next worker takes over.
3. ``execution_run`` makes one attempt: route and write scope, consent for messages (per channel,
   read at that moment: ``privacy.selectors.message_refusal``), the payload against its kind's
   schema and the approved hash, the circuit breaker and rate limit of the connection
   (``Throttle``), then the kill switches and quotas (``execution_admission``) just
   before the call; approved → executing; an ``ExecutionAttempt`` row before the call and its outcome
   after it; executed or failed with the decision-log entry in the same transaction.

Exactly once: every write carries the action's idempotency key as its marker. After an attempt
whose outcome is unknown (timeout, dropped connection, 5xx, or a worker that died mid-call), a
write that creates something (a task, a reply, a note, a status note) first asks the vendor
``find_by_marker``; a repeatable write (upsert by external id, owner, enrolment) is simply sent
again; a write that can be neither checked nor repeated (an email) is failed for a person to check,
never sent twice. Retries wait with exponential backoff and full jitter, retryable errors only,
up to ``max_attempts``.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.core.mail import EmailMessage
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from approvals.choices import ActionKind, ActionStatus
from approvals.models import ProposedAction
from approvals.schemas import PayloadError, validate_payload
from approvals.services import _move, execution_entry, payload_sha256
from approvals.targets import LeadContact, TargetMismatch, target_check
from audit.bulk import decision_log_append_many
from audit.choices import EventType
from audit.services import decision_log_append
from connectors.base import Connector, ConnectorError, WriteResult
from connectors.calls import CallContext, calls_logged
from connectors.models import ActionExecution, AttemptOutcome, Connection, ExecutionAttempt
from connectors.registry import connector_for
from connectors.resilience import BreakerPolicy, RateLimitPolicy, RetryPolicy, retry_delay
from connectors.routing import INTERNAL_KINDS, MAIL_CONNECTOR, MAIL_KINDS, RouteRefused, connection_for
from connectors.throttle import Throttle, ThrottleStore, default_store
from operations.gate import Work
from operations.selectors import execution_admission

logger = logging.getLogger(__name__)

ACTOR = "executor"
#: Error codes after which a write may have taken effect: its outcome is unknown.
UNKNOWN_CODES = frozenset({"timeout", "connection", "server_error"})
#: Error codes that mean the call never went out (our own breaker or rate limit refused it).
NOT_SENT_CODES = frozenset({"circuit_open"})
MESSAGE_KINDS = frozenset({ActionKind.SEND_EMAIL, ActionKind.SEND_SMS})
#: Records per batch upsert request (HubSpot's limit; Salesforce's collections take 200).
BATCH_SIZE = 100


@dataclass(frozen=True)
class ExecutionSettings:
    """How patient the executor is. ``lease_seconds`` must exceed one attempt's longest run (the
    rate-limit wait, the call and the check, each bounded by the connection's timeout)."""

    lease_seconds: float = 120.0
    max_attempts: int = 8
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_seconds=1.0, cap_seconds=300.0))
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    #: When a held action (kill switch) is looked at again.
    hold_recheck_seconds: float = 30.0
    batch_size: int = 50
    #: How long a worker waits for work coming due before ``actions_execute`` returns.
    idle_seconds: float = 1.0
    store: ThrottleStore | None = None


# Vendor calls ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """One connector operation for an action. After an unknown outcome: ``check_kind`` set means
    ask ``find_by_marker(check_kind, marker)`` first; ``repeatable`` means send again as is;
    neither means the action fails for a person to check (never a second effect)."""

    operation: str
    run: Callable[[], WriteResult | list[WriteResult]]
    marker: str
    check_kind: str | None = None
    repeatable: bool = False
    #: Seconds to wait after an unknown outcome before checking (a vendor whose search lags).
    check_delay: float = 0.0
    #: ``(id_property, record)`` when the write can join others in the vendor's batch upsert.
    batch: tuple[str, Mapping[str, Any]] | None = None


class LeaseLost(Exception):
    """Another worker holds this execution now (ours expired): this worker must not call."""


class Refused(Exception):
    """The action cannot be executed as it stands (not retryable); ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def lead_key(lead: Any) -> str:
    """The value of the CRM's External ID property that names one of our leads: its natural key."""
    return f"{lead.source}:{lead.external_id}"


def _crm_id(action: ProposedAction, vendor: str) -> str:
    lead = action.lead
    if lead is None:
        raise Refused("invalid", f"{action.kind} needs a lead")
    known = {"hubspot": lead.hubspot_id, "salesforce": lead.salesforce_id}.get(vendor)
    if known:
        return str(known)
    if lead.source == vendor:
        return str(lead.external_id)
    raise Refused("invalid", f"lead #{lead.pk} has no {vendor} id")


def _ticket_id(action: ProposedAction) -> str:
    # The action's own ticket, the one its approver saw (``_check_target`` refused a payload naming another).
    if action.ticket is None:
        raise Refused("invalid", f"{action.kind} needs a ticket")
    return str(action.ticket.external_id)


def _check_target(action: ProposedAction) -> None:
    """Refuse (``wrong_target``) a payload naming another ticket or recipient than the action's
    target, checked again here since an approver's edit may have changed it (``approvals.targets``)."""
    lead = action.lead
    contact = LeadContact(email=lead.email or "", phone=lead.phone or "") if lead is not None else None
    try:
        target_check(
            action.kind,
            action.payload,
            lead=contact,
            ticket=action.ticket.external_id if action.ticket is not None else None,
        )
    except TargetMismatch as exc:
        raise Refused("wrong_target", str(exc)) from None


def call_for(action: ProposedAction, connection: Connection, connector: Connector) -> Call:
    """The connector operation that carries out ``action`` (its idempotency key as the marker)."""
    payload, key, kind, vendor = action.payload, action.idempotency_key, action.kind, connection.vendor
    options = connection.options or {}
    if kind == ActionKind.CREATE_TASK:
        about = _crm_id(action, vendor)
        return Call(
            "create_task",
            lambda: connector.create_task(
                about_kind="lead",
                about_id=about,
                subject=payload["subject"],
                body=payload.get("description", ""),
                marker=key,
            ),
            key,
            check_kind="task",
        )
    if kind == ActionKind.UPDATE_CRM_FIELDS:
        id_property = str(
            options.get("external_id_property")
            or options.get("external_id_field")
            or getattr(connector, "external_id_property", None)
            or getattr(connector, "external_id_field", "")
        )
        if action.lead is None:
            raise Refused("invalid", "update_crm_fields needs a lead")
        record = {**payload["fields"], id_property: lead_key(action.lead)}
        return Call(
            "upsert",
            lambda: connector.upsert("lead", id_property=id_property, records=[record]),
            key,
            repeatable=True,
            batch=(id_property, record),
        )
    if kind == ActionKind.ASSIGN_OWNER:
        owner = payload.get("owner")
        owner_id = (options.get("owner_ids") or {}).get(owner) if owner else None
        if not owner_id:
            raise Refused("invalid", f"connection {connection.name} maps no {vendor} owner for {owner!r}")
        record_id = _crm_id(action, vendor)
        return Call(
            "assign_owner",
            lambda: connector.assign_owner("lead", record_id, owner_id=str(owner_id), marker=key),
            key,
            repeatable=True,
        )
    if kind == ActionKind.ADD_TO_NURTURE:
        contact = _crm_id(action, vendor)
        track = str(payload["track"])
        sequence = str((options.get("sequence_ids") or {}).get(track, track))
        sender = str(options.get("sender_id", ""))
        return Call(
            "enrol_in_sequence",
            lambda: connector.enrol_in_sequence(
                contact_id=contact, sequence_id=sequence, sender_id=sender, marker=key
            ),
            key,
            repeatable=True,  # the vendors refuse a second enrolment; the connector finds the first
        )
    lag = float(options.get("search_lag_seconds", 120.0 if vendor == "zendesk" else 0.0))
    if kind in (ActionKind.POST_PUBLIC_REPLY, ActionKind.ADD_INTERNAL_NOTE):
        ticket, body = _ticket_id(action), str(payload["body"])
        method = (
            connector.post_public_reply
            if kind == ActionKind.POST_PUBLIC_REPLY
            else connector.add_internal_note
        )
        return Call(
            str(kind),
            lambda: method(ticket_id=ticket, body=body, marker=key),
            key,
            check_kind="ticket",
            check_delay=lag,
        )
    if kind == ActionKind.SET_TICKET_STATUS:
        ticket, group = _ticket_id(action), payload.get("group")
        return Call(
            "set_ticket_status",
            lambda: connector.set_ticket_status(
                ticket_id=ticket, status=payload.get("status"), group_id=group, marker=key
            ),
            key,
            check_kind="ticket",  # Intercom adds a note carrying the marker: check before repeating
            check_delay=lag,
        )
    raise Refused("unsupported", f"{vendor} connections do not execute {kind}")


def _mail_call(action: ProposedAction) -> Call:
    """``send_email`` through Django's email backend, the idempotency key in its Message-ID."""
    payload = action.payload

    def send() -> WriteResult:
        message = EmailMessage(
            subject=payload["subject"],
            body=payload["body"],
            to=[payload["to"]],
            cc=list(payload.get("cc") or []),
            headers={"Message-ID": f"<{action.idempotency_key}@agentops>"},
        )
        try:
            message.send(fail_silently=False)
        except (smtplib.SMTPConnectError, ConnectionRefusedError, socket.gaierror) as exc:
            raise ConnectorError(
                f"mail server unreachable: {exc}", retryable=True, code="unreachable"
            ) from exc
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise ConnectorError(f"mail refused: {exc}", retryable=False, code="invalid") from exc
        except (OSError, smtplib.SMTPException) as exc:
            # Mid-conversation: the message may be on its way. It cannot be checked, so never resent.
            raise ConnectorError(f"mail outcome unknown: {exc}", retryable=True, code="connection") from exc
        return WriteResult(vendor_id=action.idempotency_key, created=True, marker=action.idempotency_key)

    return Call("send_email", send, action.idempotency_key)


_local = threading.local()


def _connector(connection: Connection) -> Connector:
    """This thread's connector for ``connection`` (a client and its kept-alive connections), rebuilt
    when the connection changes. Clients are not shared between threads."""
    cache: dict[int, tuple[datetime, Connector]] = _local.__dict__.setdefault("connectors", {})
    held = cache.get(connection.pk)
    if held is None or held[0] != connection.updated_at:
        held = (connection.updated_at, connector_for(connection.config()))
        cache[connection.pk] = held
    return held[1]


def connection_throttle(
    connection: Connection, settings: ExecutionSettings | None = None, *, max_wait_seconds: float = 5.0
) -> Throttle:
    """The connection's breaker and rate limit (``options["rate_limit"]``: max_requests, window_seconds)."""
    settings = settings or ExecutionSettings()
    limit = (connection.options or {}).get("rate_limit") or None
    rate = (
        RateLimitPolicy(
            max_requests=int(limit["max_requests"]),
            window_seconds=float(limit["window_seconds"]),
            utilisation=float(limit.get("utilisation", 0.9)),
        )
        if limit
        else None
    )
    return Throttle(
        settings.store or default_store(),
        f"connection:{connection.pk}",
        breaker=settings.breaker,
        rate=rate,
        max_wait_seconds=max_wait_seconds,
    )


def connection_breaker_phase(connection: Connection) -> str:
    """``closed``, ``half_open`` or ``open``: the connection's breaker as every worker sees it."""
    return connection_throttle(connection).breaker_state().phase.value


# Queue and claims -------------------------------------------------------------------------------------
def executions_enqueue(*, now: datetime | None = None) -> int:
    """Give every approved action that goes out an execution row, due now; how many were added."""
    now = now or timezone.now()
    ids = list(
        ProposedAction.objects.filter(status=ActionStatus.APPROVED, execution__isnull=True)
        .exclude(kind__in=list(INTERNAL_KINDS))
        .values_list("pk", flat=True)[:10_000]
    )
    ActionExecution.objects.bulk_create(
        [ActionExecution(action_id=pk, due_at=now) for pk in ids], ignore_conflicts=True, batch_size=500
    )
    return len(ids)


def _claimable(now: datetime) -> Q:
    return Q(done=False, due_at__lte=now) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))


def executions_claim(
    *, token: str, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[int]:
    """Lease up to ``limit`` due executions to the worker ``token``; their ids, oldest due first."""
    now = now or timezone.now()
    until = now + timedelta(seconds=lease_seconds)
    due = ActionExecution.objects.filter(_claimable(now)).order_by("due_at", "id")
    if db_connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
            ActionExecution.objects.filter(pk__in=ids).update(lease_until=until, lease_token=token)
        return ids
    claimed = []
    for pk in due.values_list("pk", flat=True)[:limit]:
        # Atomic test-and-set: only one worker's UPDATE still finds the row claimable.
        if ActionExecution.objects.filter(_claimable(now), pk=pk).update(
            lease_until=until, lease_token=token
        ):
            claimed.append(pk)
    return claimed


def _release(execution: ActionExecution, *, due_at: datetime, **changes: Any) -> None:
    """Give the lease back with the next due time (only while it is still ours)."""
    ActionExecution.objects.filter(pk=execution.pk, lease_token=execution.lease_token).update(
        due_at=due_at, lease_until=None, lease_token="", updated_at=timezone.now(), **changes
    )


# One attempt ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunResult:
    """What one run did: ``executed``, ``failed``, ``cancelled``, ``retry``, ``held`` or ``skipped``."""

    status: str
    detail: str = ""


def _log(action: ProposedAction, previous: str, reason: str, **extra: Any) -> None:
    decision_log_append_many(
        entries=[execution_entry(action, previous=previous, reason=reason, actor=ACTOR, **extra)]
    )


def _settle(execution: ActionExecution, to: str, reason: str, **extra: Any) -> RunResult:
    """End the action (executed, failed or cancelled) with its log entry, in one transaction."""
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        action = ProposedAction.objects.select_for_update().get(pk=execution.action_id)
        previous = action.status
        if to == ActionStatus.CANCELLED and previous == ActionStatus.EXECUTING:
            to = ActionStatus.FAILED  # the state machine cancels only what has not started
        path = (
            [to]
            if previous == ActionStatus.EXECUTING or to == ActionStatus.CANCELLED
            else [
                ActionStatus.EXECUTING,
                to,
            ]
        )
        fields: set[str] = set()
        for step in path:
            fields.update(_move(action, step, now))
        action.save(update_fields=sorted(fields))
        _log(action, previous, reason, attempts=execution.attempts, **extra)
        ActionExecution.objects.filter(pk=execution.pk).update(
            vendor_id=str(extra.get("vendor_id", ""))[:100],
            done=True,
            lease_until=None,
            lease_token="",
            hold_reason="",
            check_first=False,
            updated_at=now,
            **({"last_error": reason[:2000]} if to != ActionStatus.EXECUTED else {}),
        )
    return RunResult(to, reason)


def _start(
    execution: ActionExecution, action: ProposedAction, target: str, operation: str, lease_seconds: float
) -> ExecutionAttempt | str:
    """approved (or failed, retried) → executing, logged, and the attempt's row written before the
    call (a worker killed mid-call leaves it ``pending``); or why the action must wait instead.

    The lease is renewed first, under the row's lock, for ``lease_seconds`` from now: longer than
    the call can take (its timeouts), so no other worker can take the action over while the call is
    out. ``LeaseLost`` when it is no longer ours (it expired and another worker claimed it)."""
    with transaction.atomic(savepoint=False):
        renewed = ActionExecution.objects.filter(
            pk=execution.pk, lease_token=execution.lease_token, done=False
        ).update(lease_until=timezone.now() + timedelta(seconds=lease_seconds))
        if not renewed:
            raise LeaseLost(f"execution {execution.pk}")
        if action.ticket_id is not None:
            # One write per ticket at a time (Intercom's locator is read, then written): lock the
            # ticket so two workers cannot both start one.
            from support.models import Ticket

            Ticket.objects.select_for_update().filter(pk=action.ticket_id).first()
            busy = (
                ProposedAction.objects.filter(ticket_id=action.ticket_id, status=ActionStatus.EXECUTING)
                .exclude(pk=action.pk)
                .exists()
            )
            if busy:
                return "another write to this ticket is in flight"
        locked = ProposedAction.objects.select_for_update().get(pk=action.pk)
        if locked.status != ActionStatus.EXECUTING:
            previous = locked.status
            fields = _move(locked, ActionStatus.EXECUTING, timezone.now())
            locked.target_system = target[:20]
            locked.save(update_fields=[*fields, "target_system"])
            _log(locked, previous, "execution started", connection=target)
            action.status, action.target_system = locked.status, locked.target_system
        number = execution.attempts + 1
        attempt = ExecutionAttempt.objects.create(
            action_id=action.pk,
            number=number,
            connection_id=execution.connection_id,
            operation=operation,
            started_at=timezone.now(),
            correlation_id=action.correlation_id,
        )
        ActionExecution.objects.filter(pk=execution.pk).update(attempts=number)
    execution.attempts = number
    return attempt


def _finish_attempt(
    attempt: ExecutionAttempt,
    outcome: str,
    started: float,
    error: ConnectorError | None = None,
    vendor_id: str = "",
) -> None:
    attempt.outcome = outcome
    attempt.finished_at = timezone.now()
    attempt.latency_ms = int((time.perf_counter() - started) * 1000)
    attempt.vendor_id = vendor_id[:100]
    if error is not None:
        attempt.status_code = error.status
        attempt.error_code = error.code[:30]
        attempt.error = str(error)[:2000]
    attempt.save(
        update_fields=[
            "outcome",
            "finished_at",
            "latency_ms",
            "vendor_id",
            "status_code",
            "error_code",
            "error",
        ]
    )


def _admission(action: ProposedAction, target: str) -> tuple[bool, str, datetime | None]:
    sdr = action.lead.owner.username if action.lead is not None and action.lead.owner is not None else ""
    work = Work(kind=action.kind, connector=target, agent=action.proposed_by, sdr=sdr)
    admission = execution_admission(work)
    if admission.allowed:
        return True, "", None
    if admission.hold == "quota" and action.status == ActionStatus.EXECUTING:
        return True, "", None  # a retry: this execution already counts in the quota
    return False, admission.reason, admission.retry_at


@dataclass
class _Prepared:
    """An execution ready for its call: the action checked, its connection and operation chosen."""

    execution: ActionExecution
    action: ProposedAction
    connection: Connection | None
    connector: Connector | None
    target: str
    call: Call


def _prepare(execution_id: int, token: str) -> _Prepared | RunResult:
    """Load a leased execution and check everything that does not need the vendor: the action's
    status, payload (schema and approved hash), consent for messages, route and write scope."""
    execution = ActionExecution.objects.select_related("action__lead__owner", "action__ticket").get(
        pk=execution_id
    )
    if execution.lease_token != token or execution.done:
        return RunResult("skipped", "lease lost")
    action = execution.action
    if action.status not in (ActionStatus.APPROVED, ActionStatus.EXECUTING, ActionStatus.FAILED):
        ActionExecution.objects.filter(pk=execution.pk).update(done=True, lease_until=None, lease_token="")
        return RunResult("skipped", f"action is {action.status}")

    # A worker that died mid-call left its attempt pending: its outcome is unknown.
    pending = ExecutionAttempt.objects.filter(action_id=action.pk, outcome=AttemptOutcome.PENDING)
    if execution.attempts and pending.update(
        outcome=AttemptOutcome.UNKNOWN, error="the worker stopped before the outcome was recorded"
    ):
        execution.check_first = True

    try:
        validate_payload(action.kind, action.payload)
        if payload_sha256(action.payload) != action.approved_payload_sha256:
            raise Refused("payload_changed", "the payload differs from the approved one; execution refused")
        if action.kind in MESSAGE_KINDS:
            # Read now, not when it was approved: a withdrawal since then (of this channel, or an
            # erasure's suppression of the address) cancels the message, with its log entry. Every
            # recipient counts (to, cc, bcc), by address, with a lead or without one.
            from privacy.selectors import message_refusals

            refusals = message_refusals(lead=action.lead, kind=action.kind, payload=action.payload)
            if refusals:
                return _settle(execution, ActionStatus.CANCELLED, "; ".join(map(str, refusals)))
        _check_target(action)
        if action.kind in MAIL_KINDS:
            connection, connector, target = None, None, MAIL_CONNECTOR
            call = _mail_call(action)
        else:
            connection = connection_for(kind=action.kind, domain=action.domain)
            connector, target = _connector(connection), connection.name
            call = call_for(action, connection, connector)
    except (PayloadError, Refused, RouteRefused) as refused:
        code = getattr(refused, "code", "invalid")
        return _settle(execution, ActionStatus.FAILED, f"{code}: {refused}")
    if execution.check_first and not call.check_kind and not call.repeatable:
        return _settle(
            execution,
            ActionStatus.FAILED,
            "an earlier attempt may have taken effect and cannot be checked, so it is not repeated",
        )
    if connection is not None and execution.connection_id != connection.pk:
        execution.connection_id = connection.pk
        ActionExecution.objects.filter(pk=execution.pk).update(connection_id=connection.pk)
    return _Prepared(execution, action, connection, connector, target, call)


def _throttle_for(prepared: _Prepared, settings: ExecutionSettings) -> Throttle | None:
    if prepared.connection is None:
        return None
    return connection_throttle(
        prepared.connection, settings, max_wait_seconds=min(5.0, settings.lease_seconds / 4)
    )


def _acquire(throttle: Throttle | None, held: list[_Prepared]) -> tuple[float | None, RunResult | None]:
    """The connection's breaker and rate limit; on a wait, every one of ``held`` goes back with the reason."""
    if throttle is None:
        return None, None
    try:
        return throttle.acquire(), None
    except ConnectorError as wait:
        hold = f"{wait.code}: {wait}"
        due = timezone.now() + timedelta(seconds=wait.retry_after or 1.0)
        for prepared in held:
            _release(prepared.execution, due_at=due, hold_reason=hold[:500])
        return None, RunResult("held", hold)


def _admit_and_start(prepared: _Prepared, settings: ExecutionSettings) -> ExecutionAttempt | RunResult:
    """The kill switches and quotas, the last word before the call; then the start (see ``_start``)."""
    execution, action, connection = prepared.execution, prepared.action, prepared.connection
    allowed, reason, retry_at = _admission(action, prepared.target)
    now = timezone.now()
    if not allowed:
        due = retry_at or now + timedelta(seconds=settings.hold_recheck_seconds)
        _release(execution, due_at=due, hold_reason=reason[:500])
        return RunResult("held", reason)
    # Longer than the call and the check can take, whatever the settings say.
    timeout = (
        connection.timeout_seconds if connection is not None else float(django_settings.EMAIL_TIMEOUT or 10)
    )
    try:
        attempt = _start(
            execution,
            action,
            prepared.target,
            prepared.call.operation,
            max(settings.lease_seconds, 4 * timeout + 2),
        )
    except LeaseLost:
        return RunResult("skipped", "lease lost")
    if isinstance(attempt, str):
        _release(execution, due_at=now + timedelta(seconds=1), hold_reason=attempt)
        return RunResult("held", attempt)
    return attempt


def _context(prepared: _Prepared, attempt: ExecutionAttempt | None) -> CallContext:
    return CallContext(
        connection=prepared.target,
        vendor=prepared.connection.vendor if prepared.connection is not None else "email",
        action_id=prepared.action.pk if attempt is not None else None,
        attempt=attempt.number if attempt is not None else None,
        correlation_id=str(prepared.action.correlation_id) if attempt is not None else "",
    )


def _conclude(
    prepared: _Prepared,
    attempt: ExecutionAttempt,
    started: float,
    settings: ExecutionSettings,
    *,
    error: ConnectorError | None,
    vendor_id: str = "",
    checked: bool = False,
) -> RunResult:
    """Record the attempt's outcome and end the action, or schedule its retry."""
    execution, call = prepared.execution, prepared.call
    if error is None:
        with transaction.atomic():
            _finish_attempt(attempt, AttemptOutcome.OK, started, vendor_id=vendor_id)
            return _settle(execution, ActionStatus.EXECUTED, f"{call.operation} done", vendor_id=vendor_id)
    unknown = error.code in UNKNOWN_CODES
    _finish_attempt(attempt, AttemptOutcome.UNKNOWN if unknown else AttemptOutcome.ERROR, started, error)
    check_first = execution.check_first or (unknown and call.check_kind is not None)
    message = f"attempt {attempt.number}: {error.code or 'error'}: {error}"
    if unknown and not checked and not call.check_kind and not call.repeatable:
        return _settle(
            execution,
            ActionStatus.FAILED,
            f"{message}; it may have taken effect and cannot be checked, so it is not repeated",
        )
    if not error.retryable or attempt.number - execution.budget_start >= settings.max_attempts:
        return _settle(execution, ActionStatus.FAILED, message)
    delay = retry_delay(error, attempt.number - 1, settings.retry)
    if check_first:
        delay = max(delay, call.check_delay)
    _release(
        execution,
        due_at=timezone.now() + timedelta(seconds=delay),
        check_first=check_first,
        last_error=message[:2000],
        last_error_code=(error.code or "error")[:30],
        hold_reason="",
    )
    return RunResult("retry", message)


def _held_by_switch_or_quota(prepared: _Prepared, settings: ExecutionSettings) -> RunResult | None:
    """Admission before the throttle too: held work must not take the breaker's probe or a
    rate-limit slot (a probe that never goes out keeps the breaker half-open)."""
    allowed, reason, retry_at = _admission(prepared.action, prepared.target)
    if allowed:
        return None
    due = retry_at or timezone.now() + timedelta(seconds=settings.hold_recheck_seconds)
    _release(prepared.execution, due_at=due, hold_reason=reason[:500])
    return RunResult("held", reason)


def _run_prepared(prepared: _Prepared, settings: ExecutionSettings) -> RunResult:
    held = _held_by_switch_or_quota(prepared, settings)
    if held is not None:
        return held
    throttle = _throttle_for(prepared, settings)
    sent_at, held = _acquire(throttle, [prepared])
    if held is not None:
        return held
    attempt = _admit_and_start(prepared, settings)
    if isinstance(attempt, RunResult):
        return attempt
    call, connector = prepared.call, prepared.connector
    started = time.perf_counter()
    error: ConnectorError | None = None
    vendor_id = ""
    checking = bool(prepared.execution.check_first and call.check_kind)
    try:
        with calls_logged(_context(prepared, attempt)):
            if checking:
                assert call.check_kind is not None and connector is not None
                found = connector.find_by_marker(call.check_kind, call.marker)
                if found is not None:
                    if throttle is not None:
                        throttle.record(None, sent_at=sent_at)
                    with transaction.atomic():
                        _finish_attempt(attempt, AttemptOutcome.FOUND, started, vendor_id=found.vendor_id)
                        return _settle(
                            prepared.execution,
                            ActionStatus.EXECUTED,
                            "an earlier attempt had taken effect (found by its marker)",
                            vendor_id=found.vendor_id,
                        )
            result = call.run()
            vendor_id = (result[0] if isinstance(result, list) else result).vendor_id
    except ConnectorError as exc:
        error = exc
    if throttle is not None:
        throttle.record(error, sent_at=sent_at)
    return _conclude(prepared, attempt, started, settings, error=error, vendor_id=vendor_id, checked=checking)


def execution_run(*, execution_id: int, token: str, settings: ExecutionSettings) -> RunResult:
    """One attempt at the leased execution ``execution_id`` (see the module docstring)."""
    prepared = _prepare(execution_id, token)
    return prepared if isinstance(prepared, RunResult) else _run_prepared(prepared, settings)


def _run_batch(group: list[_Prepared], settings: ExecutionSettings) -> list[RunResult]:
    """Upserts for one connection in one request of the vendor's batch endpoint (repeatable, so an
    unknown outcome is simply sent again). Each action still gets its admission, its start and its
    attempt row; a batch the vendor refuses as a whole is retried one action at a time, so one bad
    record fails alone."""
    first = group[0]
    assert first.connector is not None and first.call.batch is not None
    results: list[RunResult] = []
    admitted = []
    for prepared in group:
        refused = _held_by_switch_or_quota(prepared, settings)
        if refused is None:
            admitted.append(prepared)
        else:
            results.append(refused)
    if not admitted:
        return results
    group = admitted
    throttle = _throttle_for(first, settings)
    sent_at, held = _acquire(throttle, group)
    if held is not None:
        return [*results, *[held] * len(group)]
    started_ones: list[tuple[_Prepared, ExecutionAttempt]] = []
    for prepared in group:
        attempt = _admit_and_start(prepared, settings)
        if isinstance(attempt, RunResult):
            results.append(attempt)
        else:
            started_ones.append((prepared, attempt))
    if not started_ones:
        if throttle is not None and sent_at is not None:
            throttle.record(None, sent_at=sent_at)
        return results
    id_property = first.call.batch[0]
    records = [p.call.batch[1] for p, _ in started_ones if p.call.batch is not None]
    started = time.perf_counter()
    error: ConnectorError | None = None
    written: dict[str, str] = {}
    try:
        with calls_logged(_context(first, None)):
            for result in first.connector.upsert("lead", id_property=id_property, records=records):
                written[result.marker] = result.vendor_id
    except ConnectorError as exc:
        error = exc
    if throttle is not None:
        throttle.record(error, sent_at=sent_at)
    for prepared, attempt in started_ones:
        key = str(prepared.call.batch[1][id_property]) if prepared.call.batch is not None else ""
        if error is not None and not error.retryable and len(started_ones) > 1:
            _finish_attempt(attempt, AttemptOutcome.ERROR, started, error)
            results.append(_run_prepared(prepared, settings))  # alone, so only a bad record fails
            continue
        results.append(
            _conclude(prepared, attempt, started, settings, error=error, vendor_id=written.get(key, ""))
        )
    return results


def executions_run(*, ids: Sequence[int], token: str, settings: ExecutionSettings) -> list[RunResult]:
    """Run the leased executions ``ids``: batchable upserts together per connection (up to the
    vendor's batch size, one per record), everything else one by one."""
    results: list[RunResult] = []
    batches: dict[int, list[_Prepared]] = {}
    for pk in ids:
        try:
            prepared = _prepare(pk, token)
            if isinstance(prepared, RunResult):
                results.append(prepared)
            elif prepared.call.batch is not None and prepared.connection is not None:
                group = batches.setdefault(prepared.connection.pk, [])
                keys = {str(p.call.batch[1].get(prepared.call.batch[0])) for p in group if p.call.batch}
                if str(prepared.call.batch[1].get(prepared.call.batch[0])) in keys:
                    # Two writes to one record: the vendor refuses duplicate ids in a batch.
                    _release(prepared.execution, due_at=timezone.now())
                    results.append(RunResult("skipped", "another write to this record is in the batch"))
                else:
                    group.append(prepared)
            else:
                results.append(_run_prepared(prepared, settings))
        except Exception:
            logger.exception("execution %s crashed; its lease will expire and it is retried", pk)
            results.append(RunResult("crashed"))
    for group in batches.values():
        for start in range(0, len(group), BATCH_SIZE):
            try:
                results += _run_batch(group[start : start + BATCH_SIZE], settings)
            except Exception:
                logger.exception("a batch crashed; its leases will expire and it is retried")
                results.append(RunResult("crashed"))
    return results


# Workers ----------------------------------------------------------------------------------------------
@dataclass
class ExecutionSummary:
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1


def _worker(
    settings: ExecutionSettings, summary: ExecutionSummary, lock: threading.Lock, stop: threading.Event
) -> None:
    token = secrets.token_hex(16)
    try:
        while not stop.is_set():
            ids = executions_claim(
                token=token, limit=settings.batch_size, lease_seconds=settings.lease_seconds
            )
            if not ids:
                executions_enqueue()
                next_due = ActionExecution.objects.filter(done=False).aggregate(first=Min("due_at"))["first"]
                if next_due is None:
                    return
                wait = (next_due - timezone.now()).total_seconds()
                if wait > settings.idle_seconds:
                    return  # held or backing off for longer: the next run (schedule) takes it
                # Due soon, or due but leased by another worker (or by one that died: it expires).
                stop.wait(min(max(wait, 0.02), 0.2))
                continue
            for outcome in executions_run(ids=ids, token=token, settings=settings):
                with lock:
                    summary.add(outcome.status)
            # What this worker claimed but did not reach (stopped) goes back at once.
            ActionExecution.objects.filter(lease_token=token).update(lease_until=None, lease_token="")
    finally:
        if threading.current_thread() is not threading.main_thread():
            db_connection.close()  # a worker thread's own connection


def actions_execute(
    *, settings: ExecutionSettings | None = None, workers: int = 1, stop: threading.Event | None = None
) -> ExecutionSummary:
    """Execute approved actions until nothing comes due within ``settings.idle_seconds`` (held work
    waits for its next look) or ``stop`` is set. ``workers`` threads share the queue."""
    settings = settings or ExecutionSettings()
    stop = stop or threading.Event()
    summary, lock = ExecutionSummary(), threading.Lock()
    started = time.perf_counter()
    executions_enqueue()
    if workers <= 1:
        _worker(settings, summary, lock, stop)
    else:
        threads = [
            threading.Thread(target=_worker, args=(settings, summary, lock, stop), name=f"executor-{n}")
            for n in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    summary.seconds = time.perf_counter() - started
    return summary


def action_execution_retry(*, action_id: int, actor: str) -> ActionExecution:
    """Give a failed action a fresh set of attempts (an operator's decision, logged)."""
    with transaction.atomic():
        action = ProposedAction.objects.select_for_update().get(pk=action_id)
        if action.status != ActionStatus.FAILED:
            raise ValueError(f"action #{action_id} is {action.status}, not failed")
        execution, _ = ActionExecution.objects.select_for_update().get_or_create(
            action=action, defaults={"due_at": timezone.now()}
        )
        execution.done, execution.due_at, execution.lease_until, execution.lease_token = (
            False,
            timezone.now(),
            None,
            "",
        )
        execution.hold_reason = ""
        execution.save()
        # A fresh budget of attempts, numbered after the earlier ones; an earlier unknown outcome
        # still asks the vendor first (check_first is kept).
        execution.budget_start = execution.attempts
        decision_log_append(
            event_type=EventType.ACTION_TRANSITIONED,
            actor=actor,
            subject_type="proposed_action",
            subject_id=action.pk,
            correlation_id=action.correlation_id,
            action_taken={
                "kind": action.kind,
                "from": action.status,
                "to": action.status,
                "reason": "retry requested",
            },
        )
    return execution


def executions_summary() -> Mapping[str, int]:
    """Not-done executions by what they wait for (for the admin and commands)."""
    rows = ActionExecution.objects.filter(done=False)
    return {
        "held": rows.exclude(hold_reason="").count(),
        "retrying": rows.filter(hold_reason="", attempts__gt=0).count(),
        "queued": rows.filter(hold_reason="", attempts=0).count(),
    }
