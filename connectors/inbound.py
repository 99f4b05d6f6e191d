"""Inbound changes from systems of record: store what a vendor reports, then apply it to our records.

Webhook views and the incremental sync both call ``inbound_events_store`` (raw events, deduplicated by
``(connection, event id)``) and leave the applying to ``inbound_process_pending``, run by a task and
a periodic sweep, so both paths agree. Applying a batch:

* **ordering**: per record, only the newest event of the batch is applied, and only if it is not
  older than the record's ``source_modified_at`` (equal times are applied: a later sync of the
  same state converges); older events become ``ignored_stale``;
* **ownership** (``FieldOwnership``): a field AgentOps owns keeps our value when an inbound change
  differs, and a ``SyncConflict`` keeps both; consent follows "most restrictive wins", so an
  inbound opt-out always applies, through ``sales.cadence_services.lead_opt_out`` so queued
  messages are withdrawn, and nothing inbound lifts ours;
* **bulk**: records are written by the apps' own bulk upserts (``lead_bulk_upsert``,
  ``ticket_bulk_upsert``), each writing its decision-log entry per batch, plus one entry per batch
  summarising the events and conflicts.

HubSpot's events only name what changed, so its records are read from HubSpot before the batch
(once per record, and not at all when the event is older than what we hold).

A lead's outcome (the lead model's label), its time and its deal value are read from the CRM record
by the connection's ``OutcomeMapping`` (``connectors.outcomes``) and written by the CRM-sync upsert,
the one producer allowed to set them; an outcome the lead already has keeps its first time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from audit.bulk import LogEntry, decision_log_append_many
from audit.choices import EventType
from audit.redaction import redact_context
from connectors import inbound_accounts
from connectors.base import ConnectionConfig, ConnectorError
from connectors.inbound_vendors import INBOUND, ParsedEvent, VendorInbound, _jsonable
from connectors.models import (
    Connection,
    FieldOwner,
    FieldOwnership,
    InboundChannel,
    InboundStatus,
    OutcomeMapping,
    OwnershipRule,
    SyncConflict,
    WebhookEvent,
)
from connectors.outcomes import CONVERTED, OutcomeRules, outcome_reading
from connectors.registry import connector_for

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Events applied per transaction.
BATCH_SIZE = 500
#: A failing event (its record could not be read) is tried this many times, then marked failed.
MAX_ATTEMPTS = 5
#: How restrictive each consent state is; the most restrictive of ours and theirs wins.
CONSENT_RESTRICTIVENESS = {"granted": 0, "unknown": 1, "opted_out": 2}
OPTED_OUT = "opted_out"
#: Conflicts listed in a batch's decision-log entry (all are in ``SyncConflict``).
LOGGED_CONFLICTS = 50
#: The event type of a batch's decision-log entry, by our record kind (tickets otherwise).
LOG_EVENT_TYPES = {
    "lead": EventType.LEADS_UPSERTED,
    "account": EventType.ACCOUNTS_UPSERTED,
    "contact": EventType.ACCOUNTS_LINKED,
}


class ReplayRefused(Exception):
    """An event id we already hold arrived saying something else changed: not a redelivery."""


@dataclass
class StoreResult:
    new: int = 0
    duplicates: int = 0


def guarded_call(connection: Connection, call: Callable[[], T]) -> T:
    """``call()`` (a read from the connection's vendor) behind the connection's circuit breaker and
    rate limit, shared with the outbound executor, so reads and writes share the vendor's allowance.
    Raises ``ConnectorError`` (retryable) when the breaker is open or the limit leaves no room."""
    from connectors.throttle import connection_throttle

    throttle = connection_throttle(connection)
    sent_at = throttle.acquire()
    try:
        result = call()
    except ConnectorError as exc:
        throttle.record(exc, sent_at=sent_at)
        raise
    throttle.record(None, sent_at=sent_at)
    return result


def outcome_rules_for(connection: Connection) -> OutcomeRules | None:
    """The connection's outcome mapping, else its vendor's default; None when neither exists."""
    mappings = {
        m.connection_id: m
        for m in OutcomeMapping.objects.filter(
            models.Q(connection=connection) | models.Q(connection=None, vendor=connection.vendor)
        )
    }
    mapping = mappings.get(connection.pk) or mappings.get(None)
    return mapping.rules() if mapping is not None else None


def inbound_config(connection: Connection, rules: OutcomeRules | None = None) -> ConnectionConfig:
    """The connection's config for reading records in: the lead fields the outcome mapping needs, and
    the account fields and associations ``inbound_accounts`` reads, besides the configured ones
    (``options.extra_fields``)."""
    config = connection.config()
    needed = {"lead": rules.fields() if rules is not None else []}
    # Accounts' fields, and the fields naming a lead's or contact's account (inbound_accounts).
    for kind, names in inbound_accounts.read_fields(connection.vendor, config.options).items():
        needed[kind] = [*needed.get(kind, []), *names]
    extra = dict(config.options.get("extra_fields") or {})
    for kind, names in needed.items():
        extra[kind] = list(dict.fromkeys([*extra.get(kind, ()), *names]))
    return replace(config, options={**config.options, "extra_fields": extra})


def inbound_events_store(
    *,
    connection: Connection,
    events: Sequence[ParsedEvent],
    channel: str = InboundChannel.WEBHOOK,
    raw_body: str = "",
    notify: bool = True,
) -> StoreResult:
    """Store ``events`` once each: an id already held is counted as a redelivery and stored once.

    Raises ``ReplayRefused`` (and stores nothing) when a webhook's event id already held, or
    repeated in the delivery, comes with another fingerprint. With ``notify``, processing is queued
    after commit.
    """
    unique: dict[str, ParsedEvent] = {}
    for event in events:
        seen = unique.setdefault(event.event_id[:200], event)
        if seen.fingerprint != event.fingerprint:
            raise ReplayRefused(event.event_id)
    now = timezone.now()
    with transaction.atomic():
        WebhookEvent.objects.bulk_create(
            [
                WebhookEvent(
                    connection=connection,
                    vendor=connection.vendor,
                    channel=channel,
                    event_id=event_id,
                    topic=event.topic[:100],
                    entity_kind=event.entity_kind,
                    entity_id=event.entity_id[:100],
                    source_modified_at=event.modified_at,
                    payload=dict(event.payload),
                    raw_body=raw_body,
                    fingerprint=event.fingerprint,
                    received_at=now,
                )
                for event_id, event in unique.items()
            ],
            ignore_conflicts=True,
            batch_size=500,
        )
        # Rows received at another moment were stored before (or by a concurrent delivery).
        earlier = {
            event_id: fingerprint
            for event_id, fingerprint, received_at in WebhookEvent.objects.filter(
                connection=connection, event_id__in=list(unique)
            ).values_list("event_id", "fingerprint", "received_at")
            if received_at != now
        }
        refused = next(
            (i for i, fingerprint in earlier.items() if fingerprint != unique[i].fingerprint), None
        )
        if refused is not None and channel == InboundChannel.WEBHOOK:
            # (A record the sync reads again is ours to trust, whatever it holds.)
            raise ReplayRefused(refused)  # the transaction, with what it inserted, is rolled back
        if earlier:
            WebhookEvent.objects.filter(connection=connection, event_id__in=list(earlier)).update(
                deliveries=F("deliveries") + 1
            )
        new = len(unique) - len(earlier)
        if new and notify:
            connection_id = connection.pk
            transaction.on_commit(lambda: enqueue_processing(connection_id))
    return StoreResult(new=new, duplicates=len(events) - new)


#: While a processing task is queued for a connection, further deliveries do not queue another.
PROCESS_DEBOUNCE_SECONDS = 30


def processing_debounce_key(connection_id: int) -> str:
    return f"connectors:inbound-queued:{connection_id}"


def enqueue_processing(connection_id: int) -> str | None:
    """Queue processing of a connection's received events unless a queued task will do it. The task
    is named by its dotted path: ``connectors.tasks`` imports this module, not the other way round."""
    if not cache.add(processing_debounce_key(connection_id), 1, timeout=PROCESS_DEBOUNCE_SECONDS):
        return None
    return async_task(
        "connectors.tasks.inbound_process_task", connection_id, task_name=f"inbound events of {connection_id}"
    )


# Processing ----------------------------------------------------------------------------------------
class Counts:
    """A dataclass of counters that can be summed and reported."""

    def add(self, other: Counts) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass
class ProcessSummary(Counts):
    """What processing did to the events it took (``retry``: left received after a read failed)."""

    processed: int = 0
    ignored_stale: int = 0
    ignored: int = 0
    failed: int = 0
    retry: int = 0
    conflicts: int = 0
    opted_out: int = 0


def inbound_process_pending(
    *, connection_id: int | None = None, batch_size: int = BATCH_SIZE
) -> ProcessSummary:
    """Apply every ``received`` event (of one connection, or all), oldest first, in batches.
    Safe to run twice and from several workers at once (a batch locks its events)."""
    summary = ProcessSummary()
    pending = WebhookEvent.objects.filter(status=InboundStatus.RECEIVED)
    if connection_id is not None:
        pending = pending.filter(connection_id=connection_id)
    connection_ids = sorted(set(pending.values_list("connection_id", flat=True)))
    for connection in Connection.objects.filter(pk__in=connection_ids):
        last_pk = 0
        while True:
            batch = list(
                WebhookEvent.objects.filter(
                    connection=connection, status=InboundStatus.RECEIVED, pk__gt=last_pk
                ).order_by("pk")[:batch_size]
            )
            if not batch:
                break
            last_pk = batch[-1].pk
            summary.add(_process_isolating_failures(connection, batch))
    return summary


def _process_isolating_failures(connection: Connection, batch: list[WebhookEvent]) -> ProcessSummary:
    """Apply a batch; if it fails unexpectedly, apply its events one by one, so one bad event
    cannot hold up the others: it is retried by later runs and marked failed after MAX_ATTEMPTS."""
    try:
        return inbound_process_batch(connection=connection, events=batch)
    except Exception as exc:
        if len(batch) > 1:
            logger.exception("inbound batch of %s failed; applying its events one by one", connection.name)
            summary = ProcessSummary()
            for event in WebhookEvent.objects.filter(
                pk__in=[e.pk for e in batch], status=InboundStatus.RECEIVED
            ).order_by("pk"):
                summary.add(_process_isolating_failures(connection, [event]))
            return summary
        logger.exception("inbound event %s of %s failed", batch[0].event_id, connection.name)
        return _attempt_failed(batch[0].pk, f"{type(exc).__name__}: {exc}")


def _attempt_failed(event_pk: int, error: str) -> ProcessSummary:
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        event.attempts += 1
        event.error = error[:2000]
        give_up = event.attempts >= MAX_ATTEMPTS
        event.status = InboundStatus.FAILED if give_up else InboundStatus.RECEIVED
        event.processed_at = timezone.now() if give_up else None
        event.save(update_fields=["attempts", "error", "status", "processed_at"])
    return ProcessSummary(failed=1) if give_up else ProcessSummary(retry=1)


def inbound_process_batch(*, connection: Connection, events: Sequence[WebhookEvent]) -> ProcessSummary:
    """Apply one batch of a connection's received events (see the module docstring)."""
    vendor = INBOUND[connection.vendor]
    batch = _Batch(connection, vendor)
    mapped = []
    for event in events:
        if event.entity_kind in (*vendor.kinds, *vendor.signal_kinds) and event.entity_id:
            mapped.append(event)
        else:
            batch.settle(event, InboundStatus.IGNORED)
    if vendor.needs_read:
        mapped = batch.read_records(mapped)
    with transaction.atomic():
        locked = set(
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(pk__in=[e.pk for e in events], status=InboundStatus.RECEIVED)
            .values_list("pk", flat=True)
        )
        batch.keep_only(locked)
        by_kind: dict[str, list[WebhookEvent]] = defaultdict(list)
        for event in mapped:
            if event.pk in locked:
                by_kind[event.entity_kind].append(event)
        # Records first: a contact and its meeting in one batch find each other.
        for kind, kind_events in sorted(by_kind.items(), key=lambda item: item[0] in vendor.signal_kinds):
            if kind in vendor.signal_kinds:
                batch.apply_signals(kind, kind_events)
            else:
                batch.apply(kind, kind_events)
        batch.save()
    return batch.summary


class _Batch:
    """The work of one batch: the events' outcomes, conflicts and opt-outs, written at the end."""

    def __init__(self, connection: Connection, vendor: VendorInbound) -> None:
        self.connection = connection
        self.vendor = vendor
        self.actor = f"connector:{connection.name}"
        self.now = timezone.now()
        self.summary = ProcessSummary()
        self.settled: dict[int, WebhookEvent] = {}
        #: Events given the record read from the vendor (their payload is stored with them).
        self.read: set[int] = set()
        self.conflicts: list[SyncConflict] = []
        #: The CRM's outcome mapping (read once per batch; only lead records use it).
        self.outcome_rules = outcome_rules_for(connection) if "lead" in vendor.kinds else None

    def settle(self, event: WebhookEvent, status: str, error: str = "") -> None:
        event.status = status
        event.error = error[:2000]
        event.attempts += 1
        event.processed_at = self.now if status != InboundStatus.RECEIVED else None
        self.settled[event.pk] = event
        name = "retry" if status == InboundStatus.RECEIVED else status
        setattr(self.summary, name, getattr(self.summary, name) + 1)

    def keep_only(self, locked: set[int]) -> None:
        """Forget outcomes of events another worker took meanwhile."""
        for pk in [pk for pk in self.settled if pk not in locked]:
            del self.settled[pk]

    # HubSpot-style events: read the record -----------------------------------------------------
    def read_records(self, events: list[WebhookEvent]) -> list[WebhookEvent]:
        """Give events that carry no record the record as the vendor holds it now (read once each)."""
        thin = [e for e in events if not e.payload]
        held = {
            kind: _target(kind).modified_times(
                self.vendor, [e.entity_id for e in thin if e.entity_kind == kind]
            )
            for kind in {e.entity_kind for e in thin} - set(self.vendor.signal_kinds)
        }
        ready = [e for e in events if e.payload]
        records: dict[tuple[str, str], Any] = {}
        connector = connector_for(inbound_config(self.connection, self.outcome_rules)) if thin else None
        for event in thin:
            ours = held.get(event.entity_kind, {}).get(event.entity_id)
            if ours is not None and event.source_modified_at is not None and event.source_modified_at <= ours:
                self.settle(event, InboundStatus.IGNORED_STALE)  # what it announces is already here
                continue
            key = (event.entity_kind, event.entity_id)
            if key not in records:
                try:
                    assert connector is not None
                    records[key] = guarded_call(self.connection, partial(connector.read, *key))
                except ConnectorError as exc:
                    records[key] = exc
            record = records[key]
            if isinstance(record, ConnectorError):
                give_up = not record.retryable or event.attempts + 1 >= MAX_ATTEMPTS
                status = InboundStatus.FAILED if give_up else InboundStatus.RECEIVED
                self.settle(event, status, f"reading the record failed: {record}")
                continue
            event.payload = _jsonable(record.fields)
            event.source_modified_at = record.modified_at
            self.read.add(event.pk)
            ready.append(event)
        return ready

    # Applying ----------------------------------------------------------------------------------
    def apply_signals(self, kind: str, events: list[WebhookEvent]) -> None:
        """Engagement and deal records become the leads' events and outcomes (``connectors.engagement``,
        which writes each event's decision-log entry)."""
        from connectors.engagement import engagement_events_apply

        for done in engagement_events_apply(
            connection=self.connection, kind=kind, events=events, actor=self.actor
        ):
            self.settle(done.event, done.status, done.error)

    def newest(self, events: list[WebhookEvent]) -> dict[str, WebhookEvent]:
        """The newest event of each record; the others are settled (stale, or processed when equal)."""
        newest: dict[str, WebhookEvent] = {}
        for event in events:
            current = newest.get(event.entity_id)
            if current is None or _order(event) >= _order(current):
                newest[event.entity_id] = event
        for event in events:
            winner = newest[event.entity_id]
            if event is not winner:
                older = _order(event)[0] < _order(winner)[0]
                self.settle(event, InboundStatus.IGNORED_STALE if older else InboundStatus.PROCESSED)
        return newest

    def apply(self, kind: str, events: list[WebhookEvent]) -> None:
        if kind == "contact":
            return self.apply_contacts(events)
        target = _target(kind)
        newest = self.newest(events)
        local = target.current(self.vendor, list(newest))
        ownership = _ownership(kind)
        rows: list[dict[str, Any]] = []
        row_events: list[WebhookEvent] = []
        opt_outs: list[int] = []
        new_opt_outs: list[int] = []
        for vendor_id, event in newest.items():
            record = local.get(vendor_id)
            held_at = getattr(record, "source_modified_at", None)
            if (
                held_at is not None
                and event.source_modified_at is not None
                and event.source_modified_at < held_at
            ):
                self.settle(event, InboundStatus.IGNORED_STALE)
                continue
            values = (
                inbound_accounts.account_values(
                    self.vendor.vendor, vendor_id, event.payload, self.connection.options
                )
                if kind == "account"
                else self.vendor.values(kind, event.payload)
            )
            if kind == "lead" and self.outcome_rules is not None:
                values.update(_outcome_values(self.outcome_rules, event, record))
            if record is not None:
                values, opted_out = self._owned(kind, values, record, ownership, event)
                if opted_out:
                    opt_outs.append(record.pk)
            elif values.get("consent_state") == OPTED_OUT:
                new_opt_outs.append(len(rows))  # a record new to us, opted out already
            rows.append(target.row(self.vendor, vendor_id, record, values, event.source_modified_at))
            row_events.append(event)
        outcome = target.upsert(rows, self.actor)
        if outcome.result:
            opt_outs += [pk for i in new_opt_outs if (pk := outcome.result.ids[i]) is not None]
        errors = {e.index: self._error(kind, e.field, e.message) for e in outcome.errors}
        statuses = iter(outcome.result.statuses if outcome.result else [])
        ids = iter(outcome.result.ids if outcome.result else [])
        written: list[tuple[WebhookEvent, int]] = []
        for index, event in enumerate(row_events):
            if index in errors:
                self.settle(event, InboundStatus.FAILED, errors[index])
                continue
            status, pk = next(statuses, ""), next(ids, None)
            self.settle(event, InboundStatus.IGNORED_STALE if status == "stale" else InboundStatus.PROCESSED)
            if status != "stale" and pk is not None:
                written.append((event, pk))
        self._link(kind, written, outcome)
        if kind == "ticket":
            # What the events mean beyond the record (a new ticket, the customer's reply, a
            # resolution) is the support app's to apply, in this transaction; each event once.
            from support.services import tickets_helpdesk_events_apply

            applied = [
                e
                for e in events
                if e.pk in self.settled and self.settled[e.pk].status != InboundStatus.FAILED
            ]
            tickets_helpdesk_events_apply(vendor=self.vendor.vendor, events=applied, actor=self.actor)
        if opt_outs:
            # A CRM opt-out flag (HubSpot hs_email_optout, Salesforce HasOptedOutOfEmail) is taken as
            # the most restrictive reading: a withdrawal of every channel, recorded in the consent
            # registry; it ends the lead's cadences and cancels every unsent message (lead_opt_out).
            from sales.cadence_services import lead_opt_out

            for lead_id in opt_outs:
                lead_opt_out(lead_id=lead_id, source=f"webhook:{self.connection.vendor}", actor=self.actor)
            self.summary.opted_out += len(opt_outs)
            from connectors.engagement import crm_unsubscribes_record

            crm_unsubscribes_record(
                connection=self.connection,
                events={pk: e for e, pk in written if pk in opt_outs},
                actor=self.actor,
            )
        self._log(kind, [e for e in events if e.pk in self.settled])

    def _error(self, kind: str, field_name: str, message: str) -> str:
        if kind == "account":  # named by the CRM's field and ours
            return inbound_accounts.account_error(
                self.vendor.vendor, field_name, message, self.connection.options
            )
        return f"{field_name}: {message}"

    def _link(self, kind: str, written: list[tuple[WebhookEvent, int]], outcome: Any) -> None:
        """Link what the applied records name to its account (``inbound_accounts``): a lead by its
        CRM association, the leads an account was waiting for, a ticket by its requester's email."""
        from sales.account_services import leads_account_link
        from support.account_links import tickets_account_link

        vendor = self.vendor.vendor
        if kind == "lead":
            refs = {
                pk: ref
                for e, pk in written
                if (ref := inbound_accounts.lead_account_ref(vendor, e.payload)) is not None
            }
            indexes = leads_account_link(source=vendor, refs=refs, actor=self.actor).email_indexes
            tickets_account_link(actor=self.actor, email_indexes=indexes)
        elif kind == "account":
            tickets_account_link(actor=self.actor, email_indexes=outcome.links.email_indexes)
        elif kind == "ticket":
            tickets_account_link(actor=self.actor, ticket_ids=[pk for _, pk in written])

    def apply_contacts(self, events: list[WebhookEvent]) -> None:
        """A CRM contact that is not a lead of ours (Salesforce's) is not stored: its account links
        the leads with its email. Only the newest change of a contact is applied, and not when a
        newer one was applied before (their times are in the events already processed)."""
        from sales.account_services import leads_account_link_by_email
        from support.account_links import tickets_account_link

        newest = self.newest(events)
        applied_at = dict(
            WebhookEvent.objects.filter(
                connection=self.connection,
                entity_kind="contact",
                entity_id__in=list(newest),
                status=InboundStatus.PROCESSED,
            )
            .values("entity_id")
            .annotate(latest=models.Max("source_modified_at"))
            .values_list("entity_id", "latest")
        )
        contacts = []
        for vendor_id, event in newest.items():
            held = applied_at.get(vendor_id)
            if held is not None and event.source_modified_at is not None and event.source_modified_at < held:
                self.settle(event, InboundStatus.IGNORED_STALE)
                continue
            contact = inbound_accounts.contact_account_ref(self.vendor.vendor, event.payload)
            if contact is not None:
                contacts.append(contact)
            self.settle(event, InboundStatus.PROCESSED)
        links = leads_account_link_by_email(source=self.vendor.vendor, contacts=contacts, actor=self.actor)
        tickets_account_link(actor=self.actor, email_indexes=links.email_indexes)
        self._log("contact", [e for e in events if e.pk in self.settled])

    def _owned(
        self,
        kind: str,
        values: dict[str, Any],
        record: models.Model,
        ownership: Mapping[str, tuple[str, str]],
        event: WebhookEvent,
    ) -> tuple[dict[str, Any], bool]:
        """``values`` without the fields whose owner keeps ours; whether an opt-out is to apply."""
        side = FieldOwner.CRM if kind in ("lead", "account") else FieldOwner.HELPDESK
        kept: dict[str, Any] = {}
        opt_out = False
        for name, theirs in values.items():
            owner, rule = ownership.get(name, (side, OwnershipRule.OWNER_WINS))
            ours = getattr(record, name, None)
            if rule == OwnershipRule.MOST_RESTRICTIVE:
                if theirs == ours:
                    continue
                theirs_wins = CONSENT_RESTRICTIVENESS.get(str(theirs), 0) > CONSENT_RESTRICTIVENESS.get(
                    str(ours), 0
                )
                self._conflict(kind, record, event, name, ours, theirs, "theirs" if theirs_wins else "ours")
                if theirs_wins and theirs == OPTED_OUT:
                    opt_out = True  # applied by lead_opt_out, which also withdraws queued messages
                elif theirs_wins:
                    kept[name] = theirs
            elif owner in (side, "") or name == "attributes" or theirs == ours:
                kept[name] = theirs
            else:
                self._conflict(kind, record, event, name, ours, theirs, "ours")
        return kept, opt_out

    def _conflict(
        self,
        kind: str,
        record: models.Model,
        event: WebhookEvent,
        name: str,
        ours: Any,
        theirs: Any,
        kept: str,
    ) -> None:
        self.conflicts.append(
            SyncConflict(
                connection=self.connection,
                event=event,
                record_kind=kind,
                record_id=record.pk,
                vendor_id=event.entity_id,
                field_name=name,
                ours=_jsonable({"v": ours})["v"],
                theirs=_jsonable({"v": theirs})["v"],
                kept=kept,
            )
        )
        self.summary.conflicts += 1

    def _log(self, kind: str, events: list[WebhookEvent]) -> None:
        counts: dict[str, int] = defaultdict(int)
        for event in events:
            counts[event.status] += 1
        conflicts = [c for c in self.conflicts if c.record_kind == kind]
        decision_log_append_many(
            entries=[
                LogEntry(
                    event_type=LOG_EVENT_TYPES.get(kind, EventType.TICKETS_UPSERTED),
                    actor=self.actor,
                    subject_type="inbound_batch",
                    subject_id=self.connection.pk,
                    input_context={"vendor": self.connection.vendor, "kind": kind, "events": len(events)},
                    action_taken={
                        **counts,
                        "conflicts": len(conflicts),
                        "conflict_details": [
                            {
                                "record_id": c.record_id,
                                "field": c.field_name,
                                # An email or phone in conflict goes to the log hashed only.
                                **_redacted_values(c.field_name, c.ours, c.theirs),
                                "kept": c.kept,
                            }
                            for c in conflicts[:LOGGED_CONFLICTS]
                        ],
                    },
                )
            ]
        )

    def save(self) -> None:
        """Write the conflicts and the events' outcomes: one UPDATE per distinct outcome (a CASE per
        row, as ``bulk_update`` writes, costs more than everything else the batch does)."""
        SyncConflict.objects.bulk_create(self.conflicts, batch_size=500)
        outcomes: dict[tuple[str, str], list[int]] = defaultdict(list)
        for event in self.settled.values():
            outcomes[(event.status, event.error)].append(event.pk)
        for (status, error), pks in outcomes.items():
            WebhookEvent.objects.filter(pk__in=pks).update(
                status=status,
                error=error,
                attempts=F("attempts") + 1,
                processed_at=None if status == InboundStatus.RECEIVED else self.now,
            )
        read = [e for e in self.settled.values() if e.pk in self.read]
        WebhookEvent.objects.bulk_update(read, ["payload", "source_modified_at"], batch_size=500)


def _outcome_values(rules: OutcomeRules, event: WebhookEvent, lead: Any) -> dict[str, Any]:
    """The lead fields the CRM record states by the outcome mapping: its deal value, and its outcome
    with the outcome's time unless the lead has that outcome already (its first time is kept)."""
    from sales.choices import Outcome

    reading = outcome_reading(rules, event.payload, modified_at=event.source_modified_at)
    values: dict[str, Any] = {}
    if reading.deal_value:
        values["deal_value"] = reading.deal_value
    if reading.outcome:
        outcome = Outcome.CONVERTED if reading.outcome == CONVERTED else Outcome.NOT_CONVERTED
        if lead is None or lead.outcome != outcome:
            values["outcome"] = outcome
            if reading.at is not None:
                values["outcome_at"] = reading.at
    return values


def _redacted_values(field_name: str, ours: Any, theirs: Any) -> dict[str, Any]:
    hashed = redact_context({field_name: [ours, theirs]})[field_name]
    return {"ours": hashed[0], "theirs": hashed[1]}


def _order(event: WebhookEvent) -> tuple[datetime, int]:
    return (event.source_modified_at or datetime.min.replace(tzinfo=UTC), event.pk)


def _ownership(kind: str) -> dict[str, tuple[str, str]]:
    return {
        name: (owner, rule)
        for name, owner, rule in FieldOwnership.objects.filter(record_kind=kind).values_list(
            "field_name", "owner", "rule"
        )
    }


# Our record kinds --------------------------------------------------------------------------------
class _Target:
    """How inbound records of one of our kinds are found and written: by ``(vendor, vendor id)`` as
    natural key, or by the vendor's id column when the model has one (``Lead.salesforce_id`` …)."""

    def __init__(self, model: type[models.Model], upsert: Any, *, has_vendor_columns: bool) -> None:
        self.model = model
        self._upsert = upsert
        self.has_vendor_columns = has_vendor_columns

    def _column(self, vendor: VendorInbound) -> str | None:
        return vendor.lead_id_column if self.has_vendor_columns else None

    def current(
        self, vendor: VendorInbound, vendor_ids: Sequence[str], *, lock: bool = True
    ) -> dict[str, Any]:
        """Our records for these vendor ids (locked for the batch unless ``lock`` is off)."""
        manager = self.model._default_manager
        rows: models.QuerySet[Any] = manager.select_for_update() if lock else manager.all()
        found = {
            obj.external_id: obj for obj in rows.filter(source=vendor.vendor, external_id__in=vendor_ids)
        }
        column = self._column(vendor)
        if column:
            found.update({getattr(obj, column): obj for obj in rows.filter(**{f"{column}__in": vendor_ids})})
        return found

    def modified_times(self, vendor: VendorInbound, vendor_ids: Sequence[str]) -> dict[str, datetime]:
        return {
            vendor_id: obj.source_modified_at
            for vendor_id, obj in self.current(vendor, vendor_ids, lock=False).items()
            if obj.source_modified_at is not None
        }

    def row(
        self,
        vendor: VendorInbound,
        vendor_id: str,
        record: Any,
        values: Mapping[str, Any],
        modified_at: datetime | None,
    ) -> dict[str, Any]:
        source, external_id = (record.source, record.external_id) if record else (vendor.vendor, vendor_id)
        row = {"source": source, "external_id": external_id, **values}
        if modified_at is not None:  # an event without a time must not erase the one we hold
            row["source_modified_at"] = modified_at
        column = self._column(vendor)
        if column:
            row[column] = vendor_id
        return row

    def upsert(self, rows: list[dict[str, Any]], actor: str) -> Any:
        """The app's own bulk upsert (validation, stale check, its decision-log entry per batch)."""
        return self._upsert(rows=rows, actor=actor, atomic=False)


def _target(kind: str) -> _Target:
    if kind == "account":
        from sales.account_services import account_bulk_upsert
        from sales.models import Account

        return _Target(Account, account_bulk_upsert, has_vendor_columns=False)
    if kind == "lead":
        from sales.choices import LeadProducer
        from sales.models import Lead
        from sales.services import lead_bulk_upsert

        # The CRM is the one producer of a lead's oversight fields (owner, deal value, outcome).
        return _Target(
            Lead, partial(lead_bulk_upsert, producer=LeadProducer.CRM_SYNC), has_vendor_columns=True
        )
    from support.models import Ticket
    from support.services import ticket_bulk_upsert

    return _Target(Ticket, ticket_bulk_upsert, has_vendor_columns=False)
