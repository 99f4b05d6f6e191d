"""Apply a CRM's engagement and deal records (``connectors.signals``) to the leads they are about.

Called by ``connectors.inbound`` for the events of a batch whose kind is an engagement kind, in the
batch's transaction. For each event, in a savepoint of its own (so a bad record leaves nothing
half-written and the rest of the batch goes on):

* the record is read as signals (``connectors.signals.engagement_read``; a record missing what its
  events need fails with the field named);
* the people it names are found among our leads: HubSpot contacts by ``hubspot_id`` (or a lead
  that came from HubSpot by its external id); Salesforce leads by ``salesforce_id``, and contacts or
  opportunities by what a converted lead became (``attributes.salesforce_contact_id`` /
  ``salesforce_opportunity_id``, from ``ConvertedContactId`` / ``ConvertedOpportunityId``). A record
  about nobody we hold yet (its contact's own event may come later) is tried again by the next runs
  and ignored after ``MAX_ATTEMPTS``;
* each signal becomes a lead event through ``sales.event_services.lead_event_record`` (unique per lead
  and external id, so a redelivery or a second sync read writes nothing; the records that only add
  events, with nothing to end or credit, through ``lead_events_record_many`` together, in one
  statement per batch, the same rows and log entries), with what our own mail's
  do at once: a reply, a bounce or a booked meeting ends the lead's open enrolments that began before
  it (``lead_enrolments_exit``), one arriving after the cadence ended is credited to its last touch
  (``touch_signal_credit``: a meeting booked after the reply), and a bounce suppresses email to the
  lead (the ``mail.bounced`` event);
* a CRM opt-out flag is also the lead's ``unsubscribed`` event (``crm_unsubscribes_record``);
* a deal's outcome reading (the connection's outcome mapping) sets the lead's outcome, its time (the
  close date) and its deal value through the CRM-sync upsert: a won deal makes the lead converted
  (its first conversion time is kept), a lost one makes an undecided lead lost and never undoes a
  conversion.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Func, Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from connectors.models import Connection, InboundStatus, OutcomeMapping, WebhookEvent
from connectors.outcomes import CONVERTED, LOST, OutcomeRules
from connectors.signals import Engagement, SignalError, engagement_read
from core import events as app_events

logger = logging.getLogger(__name__)

#: A record about no lead we hold is tried this many times (its contact may arrive later), then ignored.
MAX_ATTEMPTS = 5
#: Signals that end a cadence at once, as our own mail's reply and bounce do.
EXITING = ("email_reply", "email_bounce", "meeting_booked")


@dataclass(frozen=True)
class Settled:
    """What became of one event: an ``InboundStatus`` and the reason when it did not apply."""

    event: WebhookEvent
    status: str
    error: str = ""


def deal_rules_for(connection: Connection) -> OutcomeRules | None:
    """The connection's deal rules (its own outcome mapping, else the vendor's default)."""
    mappings = {
        m.connection_id: m
        for m in OutcomeMapping.objects.filter(
            Q(connection=connection) | Q(connection=None, vendor=connection.vendor)
        )
    }
    mapping = mappings.get(connection.pk) or mappings.get(None)
    return mapping.deal_rules() if mapping is not None else None


def engagement_events_apply(
    *, connection: Connection, kind: str, events: Sequence[WebhookEvent], actor: str
) -> list[Settled]:
    """Apply ``events`` (records of engagement ``kind`` from ``connection``) as lead events and deal
    outcomes (see the module docstring); what became of each. Call it inside a transaction."""
    rules = deal_rules_for(connection) if kind == "deal" else None
    read: list[tuple[WebhookEvent, Engagement]] = []
    settled: list[Settled] = []
    for event in sorted(events, key=lambda e: (e.source_modified_at or timezone.now(), e.pk)):
        try:
            engagement = engagement_read(
                vendor=connection.vendor,
                kind=kind,
                record_id=event.entity_id,
                payload=event.payload,
                modified_at=event.source_modified_at,
                deal_rules=rules,
            )
        except SignalError as exc:
            settled.append(Settled(event, InboundStatus.FAILED, f"{kind} {event.entity_id}: {exc}"))
            continue
        read.append((event, engagement))
    leads = _leads_of(connection.vendor, [e for _, e in read])
    now = timezone.now()
    # HubSpot's events of one record (its creation and each property change) are all given the
    # record as read once: apply it once and settle its other events alike.
    done: dict[tuple[str, str], Settled] = {}
    # Records that only add events (opens, clicks, sent mail, a stage; a reply or a meeting of a lead
    # never in a cadence: nothing to end, credit or decide) are written together afterwards; their
    # events' outcomes are settled then.
    plain: list[tuple[WebhookEvent, Engagement, list[int]]] = []
    later: dict[tuple[str, str], list[WebhookEvent]] = defaultdict(list)
    for event, engagement in read:
        key = _record_key(event)
        if key in later:
            later[key].append(event)
            continue
        if key in done:
            settled.append(Settled(event, done[key].status, done[key].error))
            continue
        lead_ids = sorted(
            {pk for person in engagement.people for pk in leads.people.get(person, ())}
            | set(leads.deals.get(engagement.deal_id, ()))
        )
        if not engagement.signals:
            settled.append(Settled(event, InboundStatus.PROCESSED))
        elif not lead_ids:
            who = ", ".join(engagement.people) or "no one"
            give_up = event.attempts + 1 >= MAX_ATTEMPTS
            status = InboundStatus.IGNORED if give_up else InboundStatus.RECEIVED
            settled.append(Settled(event, status, f"no lead of ours for {who}"))
        elif engagement.outcome is None and not any(
            s.kind in EXITING and (s.kind == "email_bounce" or leads.in_cadence(lead_ids))
            for s in engagement.signals
        ):
            plain.append((event, engagement, lead_ids))
            later[key].append(event)
            continue
        else:
            if any(p.entity_id == event.entity_id for p, _, _ in plain):
                # An earlier version of this record waits: its events go first, as they came first.
                flushed = _plain_settle(connection, plain, later, leads, actor, now)
                done.update({_record_key(one.event): one for one in flushed})
                settled += flushed
                plain, later = [], defaultdict(list)
            settled.append(_apply_one(connection, event, engagement, lead_ids, leads, actor, now))
        done[key] = settled[-1]
    return settled + _plain_settle(connection, plain, later, leads, actor, now)


def _plain_settle(
    connection: Connection,
    plain: list[tuple[WebhookEvent, Engagement, list[int]]],
    later: Mapping[tuple[str, str], list[WebhookEvent]],
    leads: _Leads,
    actor: str,
    now: datetime,
) -> list[Settled]:
    """Apply the waiting records (``_plain_apply``) and settle every event given one of them."""
    return [
        Settled(e, one.status, one.error)
        for one in _plain_apply(connection, plain, leads, actor, now)
        for e in later[_record_key(one.event)]
    ]


def _record_key(event: WebhookEvent) -> tuple[str, str]:
    return (event.entity_id, json.dumps(event.payload, sort_keys=True, default=str))


def _source(connection: Connection, event: WebhookEvent) -> str:
    """The producer named in the events' decision-log entries: ``webhook:hubspot``, ``sync:hubspot``."""
    return f"webhook:{connection.vendor}" if event.channel == "webhook" else f"sync:{connection.vendor}"


def _new_events(connection: Connection, engagement: Engagement, lead_ids: list[int]) -> list[Any]:
    from sales.event_services import NewLeadEvent

    return [
        NewLeadEvent(
            lead_id=lead_id,
            kind=signal.kind,
            occurred_at=signal.occurred_at,
            external_id=signal.external_id,
            properties={**signal.properties, "vendor": connection.vendor},
        )
        for lead_id in lead_ids
        for signal in engagement.signals
    ]


def _plain_apply(
    connection: Connection,
    plain: list[tuple[WebhookEvent, Engagement, list[int]]],
    leads: _Leads,
    actor: str,
    now: datetime,
) -> list[Settled]:
    """The records that only add events, written together (``lead_events_record_many``, one call per
    channel); if that refuses one, each record is applied on its own, so only the bad one fails."""
    from sales.event_services import LeadEventError, lead_events_record_many

    if not plain:
        return []
    by_source: dict[str, list[Any]] = defaultdict(list)
    for event, engagement, lead_ids in plain:
        by_source[_source(connection, event)] += _new_events(connection, engagement, lead_ids)
    try:
        with transaction.atomic():  # a savepoint: nothing of it stays if one is refused
            for source, new in by_source.items():
                lead_events_record_many(events=new, actor=actor, source=source)
    except LeadEventError:
        return [
            _apply_one(connection, event, engagement, lead_ids, leads, actor, now)
            for event, engagement, lead_ids in plain
        ]
    return [Settled(event, InboundStatus.PROCESSED) for event, _, _ in plain]


def _apply_one(
    connection: Connection,
    event: WebhookEvent,
    engagement: Engagement,
    lead_ids: list[int],
    leads: _Leads,
    actor: str,
    now: datetime,
) -> Settled:
    from sales.cadence_services import lead_enrolments_exit
    from sales.event_services import LeadEventError, lead_event_record, touch_signal_credit

    source = _source(connection, event)
    try:
        with transaction.atomic():  # a savepoint: nothing of this record stays if any of it fails
            bounced: list[int] = []
            for new in _new_events(connection, engagement, lead_ids):
                recorded = lead_event_record(event=new, actor=actor, source=source)
                if not recorded.created or new.kind not in EXITING:
                    continue
                if leads.enrolled_before(new.lead_id, new.occurred_at):
                    lead_enrolments_exit(
                        lead_id=new.lead_id, event_kind=new.kind, at=new.occurred_at, now=now
                    )
                else:  # the cadence ended already (a meeting after the reply): its last touch
                    touch_signal_credit(lead_id=new.lead_id, event_kind=new.kind, at=new.occurred_at)
                if new.kind == "email_bounce":
                    bounced.append(new.lead_id)
            if engagement.outcome is not None:
                _deal_outcome(engagement, [leads.rows[pk] for pk in lead_ids], actor)
            if bounced:
                app_events.publish("mail.bounced", lead_ids=bounced)
    except (LeadEventError, _OutcomeRefused) as exc:
        return Settled(event, InboundStatus.FAILED, f"{engagement.deal_id or event.entity_id}: {exc}")
    return Settled(event, InboundStatus.PROCESSED)


def crm_unsubscribes_record(*, connection: Connection, events: Mapping[int, WebhookEvent], actor: str) -> int:
    """The CRM's opt-out flag (HubSpot ``hs_email_optout``, Salesforce ``HasOptedOutOfEmail``), which
    the inbound path applies as an opt-out, is also the lead's ``unsubscribed`` event, at the record's
    modification time: once per CRM record (nothing inbound lifts an opt-out, so there is no second).
    ``events``: the applied event of each opted-out lead, by lead id. Returns how many were new."""
    from sales.event_services import NewLeadEvent, lead_event_record

    created = 0
    for lead_id, event in sorted(events.items()):
        recorded = lead_event_record(
            event=NewLeadEvent(
                lead_id=lead_id,
                kind="unsubscribed",
                occurred_at=event.source_modified_at or timezone.now(),
                external_id=f"{connection.vendor}:optout:{event.entity_id}",
                properties={"channel": "email", "vendor": connection.vendor, "crm_record": event.entity_id},
            ),
            actor=actor,
            source=f"{event.channel}:{connection.vendor}",
        )
        created += recorded.created
    return created


class _Text(Func):
    """A JSON key's text compared as plain text (``IN`` on the key compares JSON values, which SQLite
    parses from each id); the same SQL as the key's expression index."""

    template = "%(expressions)s"
    output_field = TextField()


class _OutcomeRefused(ValueError):
    pass


def _deal_outcome(engagement: Engagement, leads: list[dict[str, Any]], actor: str) -> None:
    """The deal's outcome, close time and amount on its leads, through the CRM-sync upsert."""
    from sales.choices import LeadProducer, Outcome
    from sales.services import lead_bulk_upsert

    reading = engagement.outcome
    assert reading is not None
    rows = []
    for lead in leads:
        row: dict[str, Any] = {}
        if reading.outcome == CONVERTED and lead["outcome"] != Outcome.CONVERTED:
            row.update(outcome=Outcome.CONVERTED, outcome_at=reading.at)
        elif reading.outcome == LOST and lead["outcome"] == Outcome.UNKNOWN:
            row.update(outcome=Outcome.NOT_CONVERTED, outcome_at=reading.at)
        if reading.deal_value and (reading.outcome != LOST or row):
            row["deal_value"] = reading.deal_value
        if row:
            rows.append({"source": lead["source"], "external_id": lead["external_id"], **row})
            lead.update(row)  # a later event of the batch sees it
    if not rows:
        return
    outcome = lead_bulk_upsert(rows=rows, actor=actor, producer=LeadProducer.CRM_SYNC, atomic=True)
    if outcome.errors:
        raise _OutcomeRefused("; ".join(f"{e.field}: {e.message}" for e in outcome.errors))


@dataclass
class _Leads:
    """Our leads for the people and deals of a batch, found in a constant number of queries."""

    people: dict[str, set[int]]
    deals: dict[str, set[int]]
    rows: dict[int, dict[str, Any]]
    #: Each lead's earliest start of an open enrolment.
    enrolled: dict[int, datetime]
    #: The leads with a delivered touch (a signal may be credited to one).
    touched: set[int] = field(default_factory=set)

    def enrolled_before(self, lead_id: int, at: datetime) -> bool:
        started = self.enrolled.get(lead_id)
        return started is not None and started <= at

    def in_cadence(self, lead_ids: Sequence[int]) -> bool:
        """Whether one of the leads is enrolled or was touched: a signal has an enrolment to end or
        a touch to credit."""
        return any(pk in self.enrolled or pk in self.touched for pk in lead_ids)


def _leads_of(vendor: str, engagements: Sequence[Engagement]) -> _Leads:
    from sales.choices import EnrolmentStatus, TouchStatus
    from sales.models import Enrolment, Lead, Touch

    people = sorted({p for e in engagements for p in e.people})
    deals = sorted({e.deal_id for e in engagements if e.deal_id})
    found: dict[str, set[int]] = defaultdict(set)
    by_deal: dict[str, set[int]] = defaultdict(set)
    rows: dict[int, dict[str, Any]] = {}
    if not people and not deals:
        return _Leads(found, by_deal, rows, {})
    column = "hubspot_id" if vendor == "hubspot" else "salesforce_id"
    match = Q(**{f"{column}__in": people}) | Q(source=vendor, external_id__in=people)
    leads = Lead.objects.all()
    if vendor == "salesforce":
        # Salesforce names a converted lead's contact and opportunity (15 or 18 characters), kept in
        # its attributes and indexed (Lead.Meta.indexes), compared as text.
        leads = leads.alias(
            sf_contact=_Text(KeyTextTransform("salesforce_contact_id", "attributes")),
            sf_opportunity=_Text(KeyTextTransform("salesforce_opportunity_id", "attributes")),
        )
        match |= Q(sf_contact__in=sorted({*people, *(p[:15] for p in people)}))
        match |= Q(sf_opportunity__in=deals)
    for lead in leads.filter(match).values("pk", "source", "external_id", column, "attributes", "outcome"):
        attributes = lead["attributes"] or {}
        for key in (lead[column], lead["external_id"] if lead["source"] == vendor else None):
            if key:
                found[key].add(lead["pk"])
        contact = str(attributes.get("salesforce_contact_id") or "")
        if contact:
            found[contact].add(lead["pk"])
            found.update({p: found[p] | {lead["pk"]} for p in people if p[:15] == contact[:15]})
        opportunity = str(attributes.get("salesforce_opportunity_id") or "")
        if opportunity:
            by_deal[opportunity].add(lead["pk"])
            by_deal.update({d: by_deal[d] | {lead["pk"]} for d in deals if d[:15] == opportunity[:15]})
        rows[lead["pk"]] = {
            "source": lead["source"],
            "external_id": lead["external_id"],
            "outcome": lead["outcome"],
        }
    touched = set(
        Touch.objects.filter(lead_id__in=list(rows), status__in=[TouchStatus.SENT, TouchStatus.PROPOSED])
        .values_list("lead_id", flat=True)
        .distinct()
    )
    enrolled: dict[int, datetime] = {}
    for lead_id, started in Enrolment.objects.filter(
        lead_id__in=list(rows), status__in=[EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED]
    ).values_list("lead_id", "enrolled_at"):
        enrolled[lead_id] = min(started, enrolled.get(lead_id, started))
    return _Leads(found, by_deal, rows, enrolled, touched)
