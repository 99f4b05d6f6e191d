"""The outbox: the one poller that carries out approved actions of every kind, exactly once.

The flow (see docs/architecture.md, "The action lifecycle and the outbox", and docs/connectors.md):

1. ``executions_enqueue`` gives each approved action of a kind some executor carries out
   (``approvals.executors``) an ``ActionExecution`` row: its lease, next try, hold and last error.
2. ``executions_claim`` leases a batch of due rows under a new fencing token
   (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL: concurrent workers on any number of
   machines take disjoint batches; a conditional ``UPDATE`` elsewhere); a worker killed mid-call
   leaves a lease that expires, and the next worker takes over. Every later write checks the token
   under the row's lock: a worker whose lease ran out settles nothing.
3. ``outbox_run`` hands each row to its kind's executor. Executors that write only our own rows run
   in one fenced transaction (``executions_run_in_database``). This module is the executor of the
   kinds that go outside (``executions_run``): the vetoes (consent, read at that moment), the
   payload against its kind's schema and the approved hash, route and write scope, the circuit
   breaker and rate limit of the connection (``Throttle``), then in the transaction that starts the
   batch the gates (kill switches and quotas, under their lock); approved → executing
   (``approvals.services.settlement``); an ``ExecutionAttempt`` row before the call and its outcome after
   it; executed or failed with the decision-log entries in one transaction per batch.

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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from approvals.choices import ActionKind, ActionStatus
from approvals.executors import (
    Hold,
    InDatabase,
    Outside,
    executed_kinds,
    executor_for,
    executor_register,
    gates,
    vetoes,
)
from approvals.models import ProposedAction
from approvals.schemas import PayloadError, validate_payload
from approvals.services import Settled, actions_settle, actions_start, payload_sha256
from approvals.subjects import subject_of
from approvals.targets import TargetMismatch, target_check
from audit.choices import EventType
from audit.services import decision_log_append
from connectors.base import ConnectionConfig, Connector, ConnectorError, WriteResult
from connectors.calls import CallContext, calls_logged
from connectors.models import ActionExecution, AttemptOutcome, Connection, ExecutionAttempt
from connectors.registry import connector_for
from connectors.resilience import BreakerPolicy, RetryPolicy, retry_delay
from connectors.routing import MAIL_CONNECTOR, MAIL_KINDS, RouteRefused, connection_for
from connectors.throttle import Throttle, ThrottleStore, connection_throttle
from core.bulk import update_many

logger = logging.getLogger(__name__)

ACTOR = "executor"
#: Error codes after which a write may have taken effect: its outcome is unknown.
UNKNOWN_CODES = frozenset({"timeout", "connection", "server_error"})
#: Error codes that mean the call never went out (our own breaker or rate limit refused it).
NOT_SENT_CODES = frozenset({"circuit_open"})
MESSAGE_KINDS = frozenset({ActionKind.SEND_EMAIL, ActionKind.SEND_SMS})
#: The kinds that go to a system outside AgentOps: a CRM, a helpdesk, or mail.
OUTSIDE_KINDS = frozenset(
    {
        ActionKind.CREATE_TASK,
        ActionKind.UPDATE_CRM_FIELDS,
        ActionKind.ASSIGN_OWNER,
        ActionKind.ADD_TO_NURTURE,
        ActionKind.POST_PUBLIC_REPLY,
        ActionKind.ADD_INTERNAL_NOTE,
        ActionKind.SET_TICKET_STATUS,
        ActionKind.HANDOFF_TO_HUMAN,
        ActionKind.SEND_EMAIL,
        ActionKind.SEND_SMS,
    }
)
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
    #: Executions per claim: a full batch request of upserts (``BATCH_SIZE``).
    batch_size: int = 100
    #: How long a worker waits for work coming due before ``actions_execute`` returns: longer than
    #: a vendor's rate-limit window (10 s), so a run does not end while its held batches wait for room.
    idle_seconds: float = 12.0
    store: ThrottleStore | None = None
    #: Only these kinds (None: every kind some executor carries out).
    kinds: frozenset[str] | None = None
    #: The time executors that work in our own database go by (a cadence's start, for one).
    clock: Callable[[], datetime] = timezone.now


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
    target, checked again here since an approver's edit may have changed it (``approvals.targets``,
    through the record's subject in ``approvals.subjects``)."""
    subject = subject_of(action)
    try:
        if subject is None:
            target_check(action.kind, action.payload, lead=None, ticket=None)
        elif subject.check is not None:
            subject.check(action.kind, action.payload, subject.record_of(action))
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
    if kind == ActionKind.HANDOFF_TO_HUMAN:
        # The group the support bot's handoff route chose, else the connection's default handoff group.
        ticket, group = _ticket_id(action), payload.get("group") or options.get("handoff_group_id")
        return Call(
            "hand_off",
            lambda: connector.hand_off(
                ticket_id=ticket,
                group_id=str(group) if group else None,
                note=str(payload["summary"]),
                priority=payload.get("priority") or None,
                tags=list(payload.get("tags") or []),
                assignee_id=str(payload["assignee"]) if payload.get("assignee") else None,
                marker=key,
            ),
            key,
            check_kind="ticket",  # the note carries the marker
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
    if kind == ActionKind.SEND_SMS:
        return _sms_call(action, connection, connector)
    raise Refused("unsupported", f"{vendor} connections do not execute {kind}")


def _sms_call(action: ProposedAction, connection: Connection, connector: Connector) -> Call:
    """``send_sms`` through the connection's provider (``connectors.sms``), reporting its delivery to
    a status webhook that names the action. The number is indexed first, so a reply (a STOP) finds
    the lead even before a receipt. Neither checkable nor repeatable: an unknown outcome fails it."""
    from connectors.sms import recipient_index, status_callback_url

    to, body, key = str(action.payload["to"]), str(action.payload["body"]), action.idempotency_key
    ActionExecution.objects.filter(action_id=action.pk).update(recipient_index=recipient_index(to))
    callback = status_callback_url(vendor=connection.vendor, connection=connection.name, action_id=action.pk)
    return Call(
        "send_sms",
        lambda: connector.send_sms(to=to, body=body, marker=key, status_callback=callback),
        key,
    )


def _mail_call(action: ProposedAction) -> Call:
    """``send_email`` through AgentOps's own mail connector (``connectors.mail``), the idempotency
    key as its marker; it goes out whatever the CRM, so no connection routes it. Replies come back
    to an address naming the action; a message to a lead carries its signed unsubscribe link."""
    from connectors.mail.addresses import reply_address, unsubscribe_address
    from connectors.mail.connector import MailConnector
    from sales.unsubscribe import unsubscribe_url

    payload, key = action.payload, action.idempotency_key
    sender = connector_for(ConnectionConfig(vendor=MAIL_CONNECTOR, base_url=""))
    assert isinstance(sender, MailConnector)
    lead_id = action.lead_id
    return Call(
        "send_email",
        lambda: sender.send_email(
            to=payload["to"],
            cc=list(payload.get("cc") or []),
            subject=payload["subject"],
            body=payload["body"],
            marker=key,
            reply_to=reply_address(action_id=action.pk),
            unsubscribe_url=unsubscribe_url(lead_id=lead_id) if lead_id else "",
            unsubscribe_mailto=unsubscribe_address(lead_id=lead_id) if lead_id else "",
        ),
        key,
    )


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


# Queue and claims -------------------------------------------------------------------------------------
def executions_enqueue(*, now: datetime | None = None, kinds: frozenset[str] | None = None) -> int:
    """Give every approved action some executor carries out (of ``kinds``, None: all) an execution
    row, due now; how many were added."""
    now = now or timezone.now()
    wanted = executed_kinds() if kinds is None else executed_kinds() & kinds
    ids = list(
        ProposedAction.objects.filter(
            status=ActionStatus.APPROVED, execution__isnull=True, kind__in=sorted(wanted)
        ).values_list("pk", flat=True)[:10_000]
    )
    ActionExecution.objects.bulk_create(
        [ActionExecution(action_id=pk, due_at=now) for pk in ids], ignore_conflicts=True, batch_size=500
    )
    return len(ids)


def _claimable(now: datetime) -> Q:
    return Q(done=False, due_at__lte=now) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))


def executions_claim(
    *,
    token: str,
    limit: int,
    lease_seconds: float,
    now: datetime | None = None,
    kinds: frozenset[str] | None = None,
) -> list[int]:
    """Lease up to ``limit`` due executions under ``token``; their ids, oldest due first.

    ``token`` is the lease's fencing token: new for every claim, so a worker whose lease ran out
    (and was claimed again by another) holds a token nothing answers to any more. Every write
    after the claim checks it under the row's lock. On PostgreSQL concurrent claimers skip each
    other's locked rows (``FOR UPDATE SKIP LOCKED``) and take disjoint batches; elsewhere a
    conditional ``UPDATE`` per row makes one claimer win each row."""
    now = now or timezone.now()
    until = now + timedelta(seconds=lease_seconds)
    due = ActionExecution.objects.filter(_claimable(now)).order_by("due_at", "id")
    if kinds is not None:
        due = due.filter(action__kind__in=sorted(kinds))
    if db_connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            ids = list(
                due.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)[:limit]
            )
            ActionExecution.objects.filter(pk__in=ids).update(lease_until=until, lease_token=token)
        return ids
    claimed = []
    for pk in due.values_list("pk", flat=True)[:limit]:
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


def _ours(ids: Sequence[int], token: str) -> set[int]:
    """Lock the executions ``ids`` and return those still leased under ``token`` (the fence)."""
    return set(
        ActionExecution.objects.select_for_update()
        .filter(pk__in=list(ids), lease_token=token, done=False)
        .values_list("pk", flat=True)
    )


# One attempt ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunResult:
    """What one run did: ``executed``, ``failed``, ``cancelled``, ``retry``, ``held``, ``skipped``
    or ``crashed``."""

    status: str
    detail: str = ""


LEASE_LOST = RunResult("skipped", "lease lost")


def _settle(execution: ActionExecution, to: str, reason: str, **extra: Any) -> RunResult:
    """End the action (executed, failed or cancelled) with its log entry, in one transaction, only
    while the lease is still ours: a call that outlived its lease settles nothing."""
    with transaction.atomic(savepoint=False):
        if not _ours([execution.pk], execution.lease_token):
            return LEASE_LOST
        counts = actions_settle(
            outcomes=[
                Settled(execution.action_id, to, reason, log={"attempts": execution.attempts, **extra})
            ],
            actor=ACTOR,
        )
        ActionExecution.objects.filter(pk=execution.pk).update(
            vendor_id=str(extra.get("vendor_id", ""))[:100],
            done=True,
            lease_until=None,
            lease_token="",
            hold_reason="",
            check_first=False,
            updated_at=timezone.now(),
            **({"last_error": reason[:2000]} if to != ActionStatus.EXECUTED else {}),
        )
    return RunResult(next(iter(counts), to), reason)


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
    attempt.save(update_fields=ATTEMPT_FIELDS)


ATTEMPT_FIELDS = ["outcome", "finished_at", "latency_ms", "vendor_id", "status_code", "error_code", "error"]


def _holds(group: Sequence[_Prepared], now: datetime, *, locked: bool) -> list[Hold | None]:
    """Every registered gate's word on each execution of ``group`` (the first hold wins); with
    ``locked``, each gate's lock is taken first (in the transaction that starts the work)."""
    holds: list[Hold | None] = [None] * len(group)
    actions = [p.action for p in group]
    targets = [p.target for p in group]
    started = [p.action.status == ActionStatus.EXECUTING for p in group]
    for gate in gates():
        if locked:
            gate.lock()
        for n, hold in enumerate(gate.check(actions, targets, started, now)):
            holds[n] = holds[n] or hold
    return holds


@dataclass
class _Prepared:
    """An execution ready for its call: the action checked, its connection and operation chosen."""

    execution: ActionExecution
    action: ProposedAction
    connection: Connection | None
    connector: Connector | None
    target: str
    call: Call


def _prepare_many(ids: Sequence[int], token: str) -> list[_Prepared | RunResult]:
    """Load leased executions and check everything that does not need the vendor: each action's
    status, payload (schema and approved hash), consent for messages, route and write scope.
    Constant queries for the batch, plus one per refused or message action."""
    executions = {
        e.pk: e
        for e in ActionExecution.objects.select_related("action__lead__owner", "action__ticket").filter(
            pk__in=list(ids)
        )
    }
    # A worker that died mid-call left its attempt pending: its outcome is unknown.
    retried = [e.action_id for e in executions.values() if e.attempts and e.lease_token == token]
    if retried:
        pending = ExecutionAttempt.objects.filter(action_id__in=retried, outcome=AttemptOutcome.PENDING)
        stale = set(pending.values_list("action_id", flat=True))
        if stale:
            pending.update(
                outcome=AttemptOutcome.UNKNOWN, error="the worker stopped before the outcome was recorded"
            )
            for leased in executions.values():
                leased.check_first = leased.check_first or leased.action_id in stale
    routes: dict[tuple[str, str], Connection | RouteRefused] = {}
    results: list[_Prepared | RunResult] = []
    moved: dict[int, list[int]] = {}
    for pk in ids:
        found = executions.get(pk)
        if found is None or found.lease_token != token or found.done:
            results.append(LEASE_LOST)
            continue
        execution = found
        prepared = _prepare(execution, routes)
        if isinstance(prepared, _Prepared) and prepared.connection is not None:
            if execution.connection_id != prepared.connection.pk:
                execution.connection_id = prepared.connection.pk
                moved.setdefault(prepared.connection.pk, []).append(pk)
        results.append(prepared)
    for connection_id, pks in moved.items():
        ActionExecution.objects.filter(pk__in=pks).update(connection_id=connection_id)
    return results


def _route(action: ProposedAction, routes: dict[tuple[str, str], Connection | RouteRefused]) -> Connection:
    key = (action.kind, action.domain)
    if key not in routes:
        try:
            routes[key] = connection_for(kind=action.kind, domain=action.domain)
        except RouteRefused as refused:
            routes[key] = refused
    found = routes[key]
    if isinstance(found, RouteRefused):
        raise found
    return found


def _prepare(
    execution: ActionExecution, routes: dict[tuple[str, str], Connection | RouteRefused]
) -> _Prepared | RunResult:
    action = execution.action
    if action.status not in (ActionStatus.APPROVED, ActionStatus.EXECUTING, ActionStatus.FAILED):
        ActionExecution.objects.filter(pk=execution.pk).update(done=True, lease_until=None, lease_token="")
        return RunResult("skipped", f"action is {action.status}")
    try:
        validate_payload(action.kind, action.payload)
        if payload_sha256(action.payload) != action.approved_payload_sha256:
            raise Refused("payload_changed", "the payload differs from the approved one; execution refused")
        # Read now, not when it was approved: e.g. a withdrawal of consent since then (of this
        # channel, or an erasure's suppression of an address) cancels a message, with its log entry.
        refusals = [str(reason) for veto in vetoes() for reason in veto.refusals(action)]
        if refusals:
            return _settle(execution, ActionStatus.CANCELLED, "; ".join(refusals))
        _check_target(action)
        if action.kind in MAIL_KINDS:
            connection, connector, target = None, None, MAIL_CONNECTOR
            call = _mail_call(action)
        else:
            connection = _route(action, routes)
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
    return _Prepared(execution, action, connection, connector, target, call)


def _throttle_for(prepared: _Prepared, settings: ExecutionSettings) -> Throttle | None:
    if prepared.connection is None:
        return None
    return connection_throttle(
        prepared.connection,
        breaker=settings.breaker,
        store=settings.store,
        max_wait_seconds=min(5.0, settings.lease_seconds / 4),
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


def _lease_for(prepared: _Prepared, settings: ExecutionSettings) -> float:
    """Longer than the call and the check can take, whatever the settings say."""
    timeout = (
        prepared.connection.timeout_seconds
        if prepared.connection is not None
        else float(django_settings.EMAIL_TIMEOUT or 10)
    )
    return max(settings.lease_seconds, 4 * timeout + 2)


def _ticket_busy(action: ProposedAction) -> bool:
    """One write per ticket at a time (Intercom's locator is read, then written): lock the ticket
    so two workers cannot both start one."""
    if action.ticket_id is None:
        return False
    from support.models import Ticket

    Ticket.objects.select_for_update().filter(pk=action.ticket_id).first()
    return (
        ProposedAction.objects.filter(ticket_id=action.ticket_id, status=ActionStatus.EXECUTING)
        .exclude(pk=action.pk)
        .exists()
    )


def _start_many(
    group: Sequence[_Prepared], settings: ExecutionSettings
) -> list[ExecutionAttempt | RunResult]:
    """The last word before the calls, for a group of executions under one lease token, in one
    transaction: the leases renewed (``LEASE_LOST`` where the fence no longer holds), the kill
    switches and quotas read under the quotas' lock (so concurrent workers never overshoot), each
    admitted action moved to executing and logged (``approvals.services.settlement``), and its attempt's row
    written before the call (a worker killed mid-call leaves it ``pending``)."""
    now = timezone.now()
    results: dict[int, ExecutionAttempt | RunResult] = {}
    with transaction.atomic(savepoint=False):
        token = group[0].execution.lease_token
        ours = _ours([p.execution.pk for p in group], token)
        ActionExecution.objects.filter(pk__in=ours).update(
            lease_until=now + timedelta(seconds=max(_lease_for(p, settings) for p in group))
        )
        live = []
        for prepared in group:
            if prepared.execution.pk not in ours:
                results[prepared.execution.pk] = LEASE_LOST
            elif _ticket_busy(prepared.action):
                _release(
                    prepared.execution,
                    due_at=now + timedelta(seconds=1),
                    hold_reason="another write to this ticket is in flight",
                )
                results[prepared.execution.pk] = RunResult(
                    "held", "another write to this ticket is in flight"
                )
            else:
                live.append(prepared)
        admitted = []
        for prepared, hold in zip(live, _holds(live, now, locked=True), strict=True):
            if hold is None:
                admitted.append(prepared)
                continue
            due = hold.until or now + timedelta(seconds=settings.hold_recheck_seconds)
            _release(prepared.execution, due_at=due, hold_reason=hold.reason[:500])
            results[prepared.execution.pk] = RunResult("held", hold.reason)
        locked: dict[int, ProposedAction] = {}
        for target in {p.target for p in admitted}:
            ids = [p.action.pk for p in admitted if p.target == target]
            locked.update(actions_start(action_ids=ids, target=target, actor=ACTOR))
        attempts, owners = [], []
        for prepared in admitted:
            action = locked[prepared.action.pk]
            if action.status != ActionStatus.EXECUTING:  # cancelled or decided again meanwhile
                ActionExecution.objects.filter(pk=prepared.execution.pk).update(
                    done=True, lease_until=None, lease_token=""
                )
                results[prepared.execution.pk] = RunResult("skipped", f"action is {action.status}")
                continue
            prepared.action.status, prepared.action.target_system = action.status, action.target_system
            prepared.execution.attempts += 1
            attempts.append(
                ExecutionAttempt(
                    action_id=action.pk,
                    number=prepared.execution.attempts,
                    connection_id=prepared.execution.connection_id,
                    operation=prepared.call.operation,
                    started_at=now,
                    correlation_id=action.correlation_id,
                )
            )
            owners.append(prepared.execution.pk)
        ExecutionAttempt.objects.bulk_create(attempts)
        ActionExecution.objects.filter(pk__in=owners).update(attempts=F("attempts") + 1)
        results.update(zip(owners, attempts, strict=True))
    return [results[p.execution.pk] for p in group]


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


def _conclude_written(
    done: Sequence[tuple[_Prepared, ExecutionAttempt]], started: float, vendor_ids: Mapping[int, str]
) -> list[RunResult]:
    """The batch's successful writes: attempts, settlements, log entries and executions in one
    transaction, a constant number of statements; only the executions whose lease is still ours."""
    now = timezone.now()
    latency = int((time.perf_counter() - started) * 1000)
    with transaction.atomic(savepoint=False):
        ours = _ours([p.execution.pk for p, _ in done], done[0][0].execution.lease_token)
        attempts, executions, settlements = [], [], []
        for prepared, attempt in done:
            if prepared.execution.pk not in ours:
                continue
            vendor_id = vendor_ids.get(prepared.execution.pk, "")[:100]
            attempt.outcome, attempt.finished_at, attempt.latency_ms = AttemptOutcome.OK, now, latency
            attempt.vendor_id = vendor_id
            attempts.append(attempt)
            execution = prepared.execution
            execution.vendor_id, execution.done, execution.lease_until, execution.lease_token = (
                vendor_id,
                True,
                None,
                "",
            )
            execution.hold_reason, execution.check_first, execution.updated_at = "", False, now
            executions.append(execution)
            settlements.append(
                Settled(
                    prepared.action.pk,
                    ActionStatus.EXECUTED,
                    f"{prepared.call.operation} done",
                    log={"attempts": execution.attempts, "vendor_id": vendor_id},
                )
            )
        update_many(ExecutionAttempt, attempts, ATTEMPT_FIELDS)
        actions_settle(outcomes=settlements, actor=ACTOR)
        update_many(
            ActionExecution,
            executions,
            ["vendor_id", "done", "lease_until", "lease_token", "hold_reason", "check_first", "updated_at"],
        )
    return [RunResult("executed" if p.execution.pk in ours else "skipped", "") for p, _ in done]


def _held_by_switch_or_quota(
    group: Sequence[_Prepared], settings: ExecutionSettings
) -> list[RunResult | None]:
    """Admission before the throttle too: held work must not take the breaker's probe or a
    rate-limit slot (a probe that never goes out keeps the breaker half-open). Read once for the group."""
    now = timezone.now()
    results: list[RunResult | None] = []
    for prepared, hold in zip(group, _holds(group, now, locked=False), strict=True):
        if hold is None:
            results.append(None)
            continue
        due = hold.until or now + timedelta(seconds=settings.hold_recheck_seconds)
        _release(prepared.execution, due_at=due, hold_reason=hold.reason[:500])
        results.append(RunResult("held", hold.reason))
    return results


def _run_prepared(prepared: _Prepared, settings: ExecutionSettings) -> RunResult:
    [held] = _held_by_switch_or_quota([prepared], settings)
    if held is not None:
        return held
    throttle = _throttle_for(prepared, settings)
    sent_at, held = _acquire(throttle, [prepared])
    if held is not None:
        return held
    [attempt] = _start_many([prepared], settings)
    if isinstance(attempt, RunResult):
        if throttle is not None:
            throttle.record(None, sent_at=sent_at)
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
    [prepared] = _prepare_many([execution_id], token)
    return prepared if isinstance(prepared, RunResult) else _run_prepared(prepared, settings)


def _run_batch(group: list[_Prepared], settings: ExecutionSettings) -> list[RunResult]:
    """Upserts for one connection in one request of the vendor's batch endpoint (repeatable, so an
    unknown outcome is simply sent again). Admission, start and conclusion each take one
    transaction for the whole batch; a batch the vendor refuses as a whole is retried one action at
    a time, so one bad record fails alone."""
    first = group[0]
    assert first.connector is not None and first.call.batch is not None
    results: list[RunResult] = []
    admitted = []
    for prepared, refused in zip(group, _held_by_switch_or_quota(group, settings), strict=True):
        if refused is None:
            admitted.append(prepared)
        else:
            results.append(refused)
    if not admitted:
        return results
    throttle = _throttle_for(first, settings)
    sent_at, held = _acquire(throttle, admitted)
    if held is not None:
        return [*results, *[held] * len(admitted)]
    started_ones: list[tuple[_Prepared, ExecutionAttempt]] = []
    for prepared, attempt in zip(admitted, _start_many(admitted, settings), strict=True):
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

    def key(prepared: _Prepared) -> str:
        return str(prepared.call.batch[1][id_property]) if prepared.call.batch is not None else ""

    if error is None:
        vendor_ids = {p.execution.pk: written.get(key(p), "") for p, _ in started_ones}
        return [*results, *_conclude_written(started_ones, started, vendor_ids)]
    for prepared, attempt in started_ones:
        if not error.retryable and len(started_ones) > 1:
            _finish_attempt(attempt, AttemptOutcome.ERROR, started, error)
            results.append(_run_prepared(prepared, settings))  # alone, so only a bad record fails
            continue
        results.append(_conclude(prepared, attempt, started, settings, error=error))
    return results


def _crashed(ids: Sequence[int], token: str, exc: BaseException, settings: ExecutionSettings) -> RunResult:
    """An error nobody expected (a secret that no longer decrypts, a bug): the executions go back
    with the error and a pause, never due at once (a tight loop of the same failure)."""
    logger.error(
        "executions %s crashed; retried in %ss", list(ids), settings.hold_recheck_seconds, exc_info=exc
    )
    error = f"crashed: {type(exc).__name__}: {exc}"[:2000]
    ActionExecution.objects.filter(pk__in=list(ids), lease_token=token, done=False).update(
        due_at=timezone.now() + timedelta(seconds=settings.hold_recheck_seconds),
        lease_until=None,
        lease_token="",
        last_error=error,
        last_error_code="crashed",
        updated_at=timezone.now(),
    )
    return RunResult("crashed", error)


def executions_run(*, ids: Sequence[int], token: str, settings: ExecutionSettings) -> list[RunResult]:
    """Run the leased executions ``ids`` that go to another system: batchable upserts together per
    connection (up to the vendor's batch size, one per record), everything else one by one."""
    results: list[RunResult] = []
    batches: dict[int, list[_Prepared]] = {}
    batched_keys: dict[int, set[str]] = {}
    try:
        prepared_all = _prepare_many(ids, token)
    except Exception as exc:  # noqa: BLE001 (logged by _crashed, which backs off)
        return [_crashed(ids, token, exc, settings)] * len(ids)
    for pk, prepared in zip(ids, prepared_all, strict=True):
        if isinstance(prepared, RunResult):
            results.append(prepared)
        elif prepared.call.batch is not None and prepared.connection is not None:
            group = batches.setdefault(prepared.connection.pk, [])
            keys = batched_keys.setdefault(prepared.connection.pk, set())
            key = str(prepared.call.batch[1].get(prepared.call.batch[0]))
            if key in keys:
                # Two writes to one record: the vendor refuses duplicate ids in a batch.
                _release(prepared.execution, due_at=timezone.now())
                results.append(RunResult("skipped", "another write to this record is in the batch"))
            else:
                keys.add(key)
                group.append(prepared)
        else:
            try:
                results.append(_run_prepared(prepared, settings))
            except Exception as exc:  # noqa: BLE001 (logged by _crashed, which backs off)
                results.append(_crashed([pk], token, exc, settings))
    for group in batches.values():
        for start in range(0, len(group), BATCH_SIZE):
            chunk = group[start : start + BATCH_SIZE]
            try:
                results += _run_batch(chunk, settings)
            except Exception as exc:  # noqa: BLE001 (logged by _crashed, which backs off)
                results.append(_crashed([p.execution.pk for p in chunk], token, exc, settings))
    return results


def executions_run_in_database(
    executor: InDatabase, *, ids: Sequence[int], token: str, settings: ExecutionSettings
) -> list[RunResult]:
    """Run the leased executions ``ids`` of an executor whose effect is our own rows: its work, the
    settlements and the executions' ends commit together, and only under a lease still ours."""
    try:
        with transaction.atomic():
            ours = _ours(ids, token)
            executions = list(
                ActionExecution.objects.filter(pk__in=ours).select_related("action__lead").order_by("pk")
            )
            live = [e for e in executions if e.action.status == ActionStatus.APPROVED]
            gone = [e.pk for e in executions if e.action.status != ActionStatus.APPROVED]
            outcomes = executor.execute([e.action for e in live], settings.clock()) if live else []
            by_action = {e.action_id: e for e in live}
            ends = [o for o in outcomes if not o.held]
            counts = actions_settle(
                outcomes=[Settled(o.action_id, o.status, o.detail) for o in ends], actor=executor.actor
            )
            now = timezone.now()
            ActionExecution.objects.filter(pk__in=[*gone, *(by_action[o.action_id].pk for o in ends)]).update(
                done=True, lease_until=None, lease_token="", hold_reason="", updated_at=now
            )
            for outcome in outcomes:
                if outcome.held:
                    _release(
                        by_action[outcome.action_id],
                        due_at=outcome.due_at or now + timedelta(seconds=settings.hold_recheck_seconds),
                        hold_reason=outcome.detail[:500],
                    )
    except Exception as exc:  # noqa: BLE001 (logged by _crashed, which backs off)
        return [_crashed(ids, token, exc, settings)]
    results = [RunResult(status, "") for status, n in counts.items() for _ in range(n)]
    results += [RunResult("held", o.detail) for o in outcomes if o.held]
    results += [RunResult("skipped", "lease lost")] * (len(ids) - len(ours))
    return results


def outbox_run(*, ids: Sequence[int], token: str, settings: ExecutionSettings) -> list[RunResult]:
    """Hand each leased execution to the executor registered for its action's kind."""
    kinds = dict(ActionExecution.objects.filter(pk__in=list(ids)).values_list("pk", "action__kind"))
    groups: dict[str, list[int]] = {}
    results: list[RunResult] = []
    for pk in ids:
        executor = executor_for(kinds.get(pk, ""))
        if executor is None:
            results.append(_crashed([pk], token, LookupError(f"no executor for {kinds.get(pk)!r}"), settings))
            continue
        groups.setdefault(executor.name, []).append(pk)
    for name, group in groups.items():
        executor = executor_for(kinds[group[0]])
        if isinstance(executor, InDatabase):
            results += executions_run_in_database(executor, ids=group, token=token, settings=settings)
        elif executor is not None:
            results += executor.run(ids=group, token=token, settings=settings)
        del name
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
    try:
        while not stop.is_set():
            token = secrets.token_hex(16)  # a new fencing token for every claim
            ids = executions_claim(
                token=token,
                limit=settings.batch_size,
                lease_seconds=settings.lease_seconds,
                kinds=settings.kinds,
            )
            if not ids:
                executions_enqueue(kinds=settings.kinds)
                waiting = ActionExecution.objects.filter(done=False)
                if settings.kinds is not None:
                    waiting = waiting.filter(action__kind__in=sorted(settings.kinds))
                next_due = waiting.aggregate(first=Min("due_at"))["first"]
                if next_due is None:
                    return
                wait = (next_due - timezone.now()).total_seconds()
                if wait > settings.idle_seconds:
                    return  # held or backing off for longer: the next run (schedule) takes it
                # Due soon, or due but leased by another worker (or by one that died: it expires).
                stop.wait(min(max(wait, 0.02), 0.2))
                continue
            for outcome in outbox_run(ids=ids, token=token, settings=settings):
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
    """Execute approved actions of every kind until nothing comes due within
    ``settings.idle_seconds`` (held work waits for its next look) or ``stop`` is set. ``workers``
    threads share the queue (and so do other processes, on other machines: claims are disjoint)."""
    settings = settings or ExecutionSettings()
    stop = stop or threading.Event()
    summary, lock = ExecutionSummary(), threading.Lock()
    started = time.perf_counter()
    executions_enqueue(kinds=settings.kinds)
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
        # A fresh budget of attempts, numbered after the earlier ones; an earlier unknown outcome
        # still asks the vendor first (check_first is kept). Set before the save: it is saved.
        execution.budget_start = execution.attempts
        execution.save()
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


def register_outside_executor() -> None:
    """Register this module as the executor of every kind that goes to another system (called
    from ``ConnectorsConfig.ready``)."""
    executor_register(Outside(name="connectors", kinds=OUTSIDE_KINDS, run=executions_run))
