"""Writes of lead events (replies, bounces, complaints, unsubscribes, meetings): the one way a
producer (a connector's inbound path, AgentOps's own mail) records what a lead did.

An event is unique per lead and external id (the producer's own id: a mail's Message-ID, a vendor's
event id), so a redelivered event changes nothing. Each new event has its decision-log entry in the
same transaction. The events that end a cadence (``sales.choices.EXIT_EVENT_KINDS``) are acted on by
the next cadence tick (``sales.cadence_services.cadences_advance`` selects every open enrolment with
such a signal since it began).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from audit.bulk import LogEntry, decision_log_append_many
from audit.choices import EventType
from audit.services import decision_log_append
from sales.choices import EXIT_EVENT_KINDS, ExitReason, LeadEventKind, TouchStatus
from sales.models import Lead, LeadEvent, Touch
from sales.models.cadences import EXIT_OUTCOME_FIELDS

EXTERNAL_ID_MAX = LeadEvent._meta.get_field("external_id").max_length or 100
#: How long after a touch a signal that arrives once its cadence has ended is still credited to it.
CREDIT_WINDOW = timedelta(days=30)


class LeadEventError(ValueError):
    """An event that cannot be recorded; ``field`` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class LeadEventRecorded:
    """The event as stored, and whether this call created it (False: it was already there)."""

    event: LeadEvent
    created: bool


@dataclass(frozen=True)
class NewLeadEvent:
    lead_id: int
    kind: str
    occurred_at: datetime
    external_id: str
    properties: Mapping[str, Any] = field(default_factory=dict)


def lead_event_record(*, event: NewLeadEvent, actor: str, source: str) -> LeadEventRecorded:
    """Record one lead event, once: a second call with the same lead and external id returns the
    stored event with ``created=False`` and writes nothing. ``source`` names the producer in the
    decision-log entry (``mail``, ``webhook:hubspot``). Raises ``LeadEventError`` naming the field
    for an unknown kind, an empty or too long external id, a naive time or an unknown lead."""
    external_id = _checked(event)
    with transaction.atomic():
        if not Lead.objects.filter(pk=event.lead_id).exists():
            raise LeadEventError("lead", f"no lead with id {event.lead_id}")
        held = LeadEvent.objects.filter(lead_id=event.lead_id, external_id=external_id).first()
        if held is not None:
            return LeadEventRecorded(held, created=False)
        try:
            with transaction.atomic():  # a savepoint: a concurrent delivery of the same event may win
                stored = LeadEvent.objects.create(
                    lead_id=event.lead_id,
                    kind=event.kind,
                    occurred_at=event.occurred_at,
                    external_id=external_id,
                    properties=dict(event.properties),
                )
        except IntegrityError:
            return LeadEventRecorded(
                LeadEvent.objects.get(lead_id=event.lead_id, external_id=external_id), created=False
            )
        entry = _log_entry(event, external_id, actor=actor, source=source)
        decision_log_append(
            event_type=entry.event_type,
            actor=entry.actor,
            subject_type=entry.subject_type,
            subject_id=entry.subject_id,
            input_context=entry.input_context,
            outcome=entry.outcome,
        )
    return LeadEventRecorded(stored, created=True)


def lead_events_record_many(*, events: Sequence[NewLeadEvent], actor: str, source: str) -> int:
    """Record many lead events as ``lead_event_record`` records each, in a constant number of
    queries: those already held (by lead and external id) change nothing, each new one has the same
    decision-log entry. Raises ``LeadEventError`` naming the field (and writes nothing) for the first
    event ``lead_event_record`` would refuse. Returns how many were new."""
    checked: dict[tuple[int, str], NewLeadEvent] = {}
    for e in events:  # the first of one lead and external id is the one kept, as one by one
        checked.setdefault((e.lead_id, _checked(e)), e)
    if not checked:
        return 0
    lead_ids = {lead_id for lead_id, _ in checked}
    with transaction.atomic():
        missing = lead_ids - set(Lead.objects.filter(pk__in=lead_ids).values_list("pk", flat=True))
        if missing:
            raise LeadEventError("lead", f"no lead with id {min(missing)}")
        held = set(
            LeadEvent.objects.filter(
                lead_id__in=lead_ids, external_id__in={external_id for _, external_id in checked}
            ).values_list("lead_id", "external_id")
        )
        new = {key: e for key, e in checked.items() if key not in held}
        # ignore_conflicts: a concurrent delivery may have stored one since; only ours are logged.
        LeadEvent.objects.bulk_create(
            [
                LeadEvent(
                    lead_id=lead_id,
                    kind=e.kind,
                    occurred_at=e.occurred_at,
                    external_id=external_id,
                    properties=dict(e.properties),
                )
                for (lead_id, external_id), e in new.items()
            ],
            ignore_conflicts=True,
            batch_size=500,
        )
        decision_log_append_many(
            entries=[
                _log_entry(e, external_id, actor=actor, source=source) for (_, external_id), e in new.items()
            ]
        )
    return len(new)


def _checked(event: NewLeadEvent) -> str:
    """The event's external id, stripped; ``LeadEventError`` naming the field of what is wrong."""
    if event.kind not in LeadEventKind.values:
        raise LeadEventError("kind", f"{event.kind!r} is not one of {', '.join(LeadEventKind.values)}")
    external_id = (event.external_id or "").strip()
    if not external_id:
        raise LeadEventError("external_id", "must not be empty")
    if len(external_id) > EXTERNAL_ID_MAX:
        raise LeadEventError("external_id", f"must be at most {EXTERNAL_ID_MAX} characters")
    if event.occurred_at.tzinfo is None:
        raise LeadEventError("occurred_at", "must have a time zone")
    return external_id


def _log_entry(event: NewLeadEvent, external_id: str, *, actor: str, source: str) -> LogEntry:
    return LogEntry(
        event_type=EventType.OUTCOME_RECORDED,
        actor=actor,
        subject_type="lead",
        subject_id=event.lead_id,
        input_context={"source": source, "external_id": external_id},
        outcome={"event": event.kind, "occurred_at": event.occurred_at.isoformat()},
    )


def touch_signal_credit(*, lead_id: int, event_kind: str, at: datetime) -> bool:
    """Credit a signal that arrived after the lead's cadence had ended (a meeting booked after the
    reply that ended it) to the lead's last delivered touch before it, within ``CREDIT_WINDOW``,
    unless that touch has that outcome already: what the per-step metrics and the reply and meeting
    KPIs count. An open enrolment's signals are credited when it exits instead
    (``sales.cadence_services.lead_enrolments_exit``). True when a touch was credited."""
    reason = EXIT_EVENT_KINDS.get(event_kind)
    field_name = EXIT_OUTCOME_FIELDS.get(ExitReason(reason)) if reason else None
    if field_name is None:
        return False
    with transaction.atomic():
        touch = (
            Touch.objects.select_for_update()
            .filter(
                status__in=[TouchStatus.SENT, TouchStatus.PROPOSED],
                lead_id=lead_id,
                touched_at__lte=at,
                touched_at__gte=at - CREDIT_WINDOW,
            )
            .order_by("-touched_at", "-pk")
            .first()
        )
        if touch is None or getattr(touch, field_name) is not None:
            return False
        setattr(touch, field_name, at)
        touch.save(update_fields=[field_name, "updated_at"])
    return True
