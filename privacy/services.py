"""Writes of the privacy app: consent changes with immediate effect on queued work, and
data-subject requests (erasure, access). Each change is one transaction with its decision-log entry;
the log only ever receives hashes of personal values (``audit.redaction``), so erasure leaves it intact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from approvals.models import Decision, ProposedAction
from audit.choices import EventType
from audit.services import decision_log_append
from connectors.models import ActionExecution, ExecutionAttempt, SyncConflict, WebhookEvent
from consent.choices import (
    CADENCE_CHANNEL_CONSENT,
    MESSAGE_KIND_CHANNEL,
    Channel,
    ConsentSource,
    ConsentStatus,
    LawfulBasis,
)
from consent.keys import email_key, normalise_email
from consent.models import ConsentRecord
from consent.selectors import consent_states
from consent.services import ALL_CHANNELS, consent_withdrawals_add
from notifications.models import Notification
from privacy.anonymise import (
    LEAD_BLANK,
    TICKET_BLANK,
    history_scrub,
    needles_for,
    scrub_json,
    scrub_text,
)
from privacy.choices import RequestKind, RequestStatus
from privacy.models import DataSubjectRequest
from sales.cadence_services import lead_opt_out
from sales.choices import ConsentState, TouchStatus
from sales.models import Enrolment, Lead, LeadEvent, Touch
from sales.selectors import leads_with_email
from support.models import BotRun, SurveyResponse, Ticket
from support.selectors import tickets_with_requester_email


class PrivacyError(ValueError):
    """Bad input or an illegal step; ``field`` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _check_source(source: str) -> str:
    base, _, vendor = source.partition(":")
    if base not in ConsentSource.values or (base == ConsentSource.WEBHOOK) != bool(vendor):
        raise PrivacyError(
            "source",
            f"{source!r} is not a known source (one of {', '.join(ConsentSource.values)}; "
            "a webhook names its vendor, e.g. webhook:hubspot)",
        )
    return source


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise PrivacyError(name, f"{value!r} is not one of {', '.join(choices)}")
    return value


# --- Consent --------------------------------------------------------------------------------------


@dataclass
class ConsentChange:
    """What a consent change did: the records written and the queued work it cancelled."""

    records: list[ConsentRecord] = field(default_factory=list)
    messages_cancelled: int = 0
    enrolments_exited: int = 0


def consent_record(
    *,
    lead_id: int,
    channel: str,
    status: str,
    lawful_basis: str = LawfulBasis.CONSENT,
    source: str,
    actor: str,
    note: str = "",
    evidence: str = "",
    now: datetime | None = None,
) -> ConsentChange:
    """Record a lead's consent for one channel. A withdrawal goes through ``consent_withdraw`` (it
    takes effect on queued work); a grant makes the lead contactable on that channel.

    A grant that lifts a withdrawal (the lead opted out of everything, or withdrew this channel, or
    its address is under suppression) needs ``evidence``: what the person said or signed, where and
    when. It is kept on the record; without it the grant is refused (``PrivacyError("evidence")``).
    This is the only way an opt-out is lifted: no upsert, sync or import raises a lead's consent.
    """
    _check_choice("channel", channel, Channel.values)
    _check_choice("status", status, ConsentStatus.values)
    _check_choice("lawful_basis", lawful_basis, LawfulBasis.values)
    _check_source(source)
    if status == ConsentStatus.WITHDRAWN:
        return consent_withdraw(
            lead_id=lead_id,
            channels=[channel],
            source=source,
            actor=actor,
            lawful_basis=lawful_basis,
            note=note,
            now=now,
        )
    now = now or timezone.now()
    evidence = (evidence or "").strip()
    with transaction.atomic():
        lead = _lead_locked(lead_id)
        key = email_key(lead.email)
        previous = lead.consent_state
        states = consent_states(leads=[lead])[lead.pk]
        lifts = previous == ConsentState.OPTED_OUT or states.get(channel) == ConsentStatus.WITHDRAWN
        if lifts and not evidence:
            raise PrivacyError(
                "evidence",
                f"the contact withdrew consent to {channel}: a grant that lifts a withdrawal needs "
                "evidence (what the person said or signed, where and when)",
            )
        records = [
            ConsentRecord.objects.create(
                lead=lead,
                email_key=key,
                channel=channel,
                status=ConsentStatus.GRANTED,
                lawful_basis=lawful_basis,
                source=source,
                recorded_at=now,
                recorded_by=actor,
                note=note,
                evidence=evidence[:500],
            )
        ]
        if previous == ConsentState.OPTED_OUT:
            # The opt-out covered every channel: the others stay withdrawn, now as records of their own.
            for other in ALL_CHANNELS:
                if other != channel and states.get(other) != ConsentStatus.WITHDRAWN:
                    records.append(
                        ConsentRecord.objects.create(
                            lead=lead,
                            email_key=key,
                            channel=other,
                            status=ConsentStatus.WITHDRAWN,
                            lawful_basis=lawful_basis,
                            source=source,
                            recorded_at=now,
                            recorded_by=actor,
                            note="carried over from the earlier opt-out of every channel",
                        )
                    )
        if previous != ConsentState.GRANTED:
            lead.consent_state = ConsentState.GRANTED
            lead.save(update_fields=["consent_state", "updated_at"])
        decision_log_append(
            event_type=EventType.CONSENT_CHANGED,
            actor=actor,
            subject_type="lead",
            subject_id=lead.pk,
            input_context={"source": source, "lawful_basis": lawful_basis},
            action_taken={
                "channel": channel,
                "status": ConsentStatus.GRANTED,
                "from": previous,
                "to": lead.consent_state,
                "lifts_withdrawal": lifts,
                "with_evidence": bool(evidence),
            },
        )
    return ConsentChange(records=records)


def _lead_locked(lead_id: int) -> Lead:
    try:
        return Lead.objects.select_for_update().get(pk=lead_id)
    except Lead.DoesNotExist:
        raise PrivacyError("lead", f"no lead with id {lead_id}") from None


def consent_withdraw(
    *,
    lead_id: int | None = None,
    email: str = "",
    channels: Sequence[str] = ALL_CHANNELS,
    source: str,
    actor: str,
    lawful_basis: str = LawfulBasis.CONSENT,
    note: str = "",
    now: datetime | None = None,
) -> ConsentChange:
    """Record that a person withdrew consent to ``channels``, with immediate effect on queued work.

    For a lead: every channel at once is an opt-out (``sales.cadence_services.lead_opt_out``: every
    open enrolment ends, every unsent message is cancelled); some channels cancel the unsent
    messages and tasks of those channels only, and the cadence skips their later steps. With only
    an ``email`` (no lead), the records are keyed by the address: a suppression that applies to any
    lead with it, now or imported later. The executor checks again at execution time.
    """
    for channel in channels:
        _check_choice("channels", channel, Channel.values)
    if not channels:
        raise PrivacyError("channels", "name at least one channel")
    _check_choice("lawful_basis", lawful_basis, LawfulBasis.values)
    _check_source(source)
    if lead_id is None and not normalise_email(email):
        raise PrivacyError("lead", "name a lead or an email address")
    now = now or timezone.now()
    change = ConsentChange()
    wanted = list(dict.fromkeys(channels))
    with transaction.atomic():
        lead = _lead_locked(lead_id) if lead_id is not None else None
        if lead is not None and set(wanted) >= set(ALL_CHANNELS):
            # An opt-out: lead_opt_out records the withdrawal of every channel itself.
            result = lead_opt_out(
                lead_id=lead.pk, source=source, actor=actor, lawful_basis=lawful_basis, note=note, now=now
            )
            change.records = result.records
            change.messages_cancelled = result.messages_withdrawn
            change.enrolments_exited = result.enrolments_exited
            return change
        key = email_key(lead.email if lead is not None else email)
        if lead is None and not key:
            raise PrivacyError("email", "must not be empty")
        change.records = consent_withdrawals_add(
            lead=lead,
            email=email,
            channels=wanted,
            source=source,
            actor=actor,
            lawful_basis=lawful_basis,
            note=note,
            now=now,
        )
        if lead is None:
            decision_log_append(
                event_type=EventType.CONSENT_CHANGED,
                actor=actor,
                subject_type="email_key",
                subject_id=key[:16],
                input_context={"source": source},
                action_taken={"channels": wanted, "status": ConsentStatus.WITHDRAWN},
            )
            return change
        change.messages_cancelled = _cancel_channel_work(lead, wanted, actor)
        decision_log_append(
            event_type=EventType.CONSENT_CHANGED,
            actor=actor,
            subject_type="lead",
            subject_id=lead.pk,
            input_context={"source": source, "lawful_basis": lawful_basis},
            action_taken={
                "channels": wanted,
                "status": ConsentStatus.WITHDRAWN,
                "messages_cancelled": change.messages_cancelled,
            },
        )
    return change


BOUNCE_SOURCE = f"{ConsentSource.WEBHOOK}:email"
BOUNCE_ACTOR = "mail:inbound"


def mail_bounces_suppress(*, lead_ids: Sequence[int]) -> int:
    """Stop email to leads whose address bounced for good (a ``mail.bounced`` event): a withdrawal
    of their email channel, recorded as coming from our mail (``webhook:email``) with the reason, so
    queued email is cancelled, later email steps are skipped and the executor refuses what is left.
    Other channels go on. A lead that is gone or has email withdrawn already is left as it is.
    Returns how many leads were suppressed."""
    return _channel_suppress(
        lead_ids,
        Channel.EMAIL,
        source=BOUNCE_SOURCE,
        actor=BOUNCE_ACTOR,
        note="our email bounced for good (a delivery status notification): the address takes no mail",
    )


def sms_channel_suppress(*, lead_ids: Sequence[int], source: str, note: str) -> int:
    """Stop text messages to leads (an ``sms.stopped`` event: they texted STOP, or their number takes
    no texts): a withdrawal of their SMS channel from ``source`` (``webhook:twilio``) with ``note``,
    exactly as ``mail_bounces_suppress`` does for email. Returns how many leads were suppressed."""
    return _channel_suppress(lead_ids, Channel.SMS, source=source, actor=source, note=note)


def _channel_suppress(lead_ids: Sequence[int], channel: str, *, source: str, actor: str, note: str) -> int:
    suppressed = 0
    for lead in Lead.objects.filter(pk__in=list(lead_ids)).order_by("pk"):
        if lead.consent_state == ConsentState.OPTED_OUT or (
            consent_states(leads=[lead]).get(lead.pk, {}).get(channel) == ConsentStatus.WITHDRAWN
        ):
            continue
        consent_withdraw(lead_id=lead.pk, channels=[channel], source=source, actor=actor, note=note)
        suppressed += 1
    return suppressed


def _cancel_channel_work(lead: Lead, channels: Sequence[str], actor: str) -> int:
    """Cancel the lead's unsent messages (and cadence tasks) on these channels; other channels go on."""
    from approvals.services import actions_cancel_unsent

    kinds = [kind for kind, channel in MESSAGE_KIND_CHANNEL.items() if channel in channels]
    cadence_channels = [c for c, channel in CADENCE_CHANNEL_CONSENT.items() if channel in channels]
    reason = f"the contact withdrew consent to {', '.join(channels)}"
    cancelled = actions_cancel_unsent(
        reason=reason,
        actor=actor,
        lead_ids=[lead.pk],
        kinds=kinds,
        action_ids=Touch.objects.filter(lead=lead, channel__in=cadence_channels).values_list(
            "action_id", flat=True
        ),
    )
    Touch.objects.filter(action_id__in=cancelled).exclude(status=TouchStatus.CANCELLED).update(
        status=TouchStatus.CANCELLED, reason=reason[:500], updated_at=timezone.now()
    )
    return len(cancelled)


# --- Data-subject requests ------------------------------------------------------------------------


def _actor(user: Any) -> str:
    return f"user:{user.get_username()}" if user is not None and user.is_authenticated else "system"


def data_subject_request_create(*, kind: str, email: str, user: Any, notes: str = "") -> DataSubjectRequest:
    """Open an erasure or access request for the person with ``email``."""
    _check_choice("kind", kind, RequestKind.values)
    address = normalise_email(email)
    try:
        validate_email(address)
    except ValidationError:
        raise PrivacyError("subject_email", f"{email!r} is not an email address") from None
    with transaction.atomic():
        request = DataSubjectRequest.objects.create(
            kind=kind,
            subject_email=address,
            subject_key=email_key(address),
            requested_by=user if user is not None and user.is_authenticated else None,
            notes=notes,
        )
        decision_log_append(
            event_type=EventType.PRIVACY_REQUEST,
            actor=_actor(user),
            subject_type="data_subject_request",
            subject_id=request.pk,
            # No address, not even hashed: the request row keeps its keyed subject_key, and an
            # erasure must leave nothing in the append-only log that names the person.
            action_taken={"kind": kind, "status": RequestStatus.PENDING},
        )
    return request


def _pending(request_id: int, kind: str) -> DataSubjectRequest:
    request = DataSubjectRequest.objects.select_for_update().get(pk=request_id)
    if request.kind != kind:
        raise PrivacyError("kind", f"request #{request.pk} is an {request.kind} request, not {kind}")
    if request.status != RequestStatus.PENDING:
        raise PrivacyError("status", f"request #{request.pk} is already {request.status}")
    return request


def erasure_execute(*, request: DataSubjectRequest, user: Any) -> DataSubjectRequest:
    """Erase the person everywhere we hold them, in one transaction, and keep them from being
    contacted again.

    Every channel is withdrawn (their queued work is cancelled), and a suppression keyed by the hash
    of their address stays, so a re-import arrives opted out. Their leads and tickets are
    anonymised in place (ids, vendor ids, statuses and outcomes stay for the metrics), and so are
    the events, messages and approval payloads, survey comments, bot summaries, raw webhook events,
    sync conflicts, notifications and the admin-history rows that copied them. The decision log is
    left as it is: it only ever held hashes of personal values, so its hash chain still verifies.
    """
    actor = _actor(user)
    now = timezone.now()
    with transaction.atomic():
        request = _pending(request.pk, RequestKind.ERASURE)
        address = request.subject_email
        leads = list(leads_with_email(email=address))
        tickets = list(tickets_with_requester_email(email=address))
        # First the withdrawal (it needs the address to key the suppression), then the blanking.
        consent_withdraw(email=address, source=ConsentSource.ERASURE, actor=actor, now=now)
        for lead in leads:
            consent_withdraw(lead_id=lead.pk, source=ConsentSource.ERASURE, actor=actor, now=now)
        needles = needles_for(
            [address]
            + [
                v
                for lead in leads
                for v in (
                    lead.email,
                    lead.phone,
                    lead.first_name,
                    lead.last_name,
                    f"{lead.first_name} {lead.last_name}",
                )
            ]
            + [v for t in tickets for v in (t.requester_email, t.requester_name)]
        )
        # Read again: the withdrawal changed the leads (their consent state) since they were loaded.
        leads = list(
            Lead.objects.select_for_update().filter(pk__in=[lead.pk for lead in leads]).order_by("pk")
        )
        counts = _erase(leads, tickets, needles, address)
        request.status = RequestStatus.COMPLETED
        request.completed_at = now
        request.completed_by = user if user is not None and user.is_authenticated else None
        request.subject_email = ""
        request.result = counts
        request.save()
        decision_log_append(
            event_type=EventType.PRIVACY_ERASURE,
            actor=actor,
            subject_type="data_subject_request",
            subject_id=request.pk,
            action_taken={"status": RequestStatus.COMPLETED, **counts},
        )
    return request


def _erase(leads: list[Lead], tickets: list[Ticket], needles: list[str], address: str) -> dict[str, Any]:
    lead_ids = [lead.pk for lead in leads]
    ticket_ids = [t.pk for t in tickets]
    for lead in leads:
        for name, value in LEAD_BLANK.items():
            setattr(lead, name, value)
        if any(n.lower() in lead.external_id.lower() for n in needles):
            lead.external_id = f"erased:{lead.pk}"
        lead.save()
    history_scrub(Lead, lead_ids, LEAD_BLANK)
    for ticket in tickets:
        for name, value in TICKET_BLANK.items():
            setattr(ticket, name, value)
        ticket.save()
    history_scrub(Ticket, ticket_ids, TICKET_BLANK)

    events = LeadEvent.objects.filter(lead_id__in=lead_ids)
    event_count = events.update(properties={})
    history_scrub(LeadEvent, list(events.values_list("pk", flat=True)), {"properties": {}})
    surveys = SurveyResponse.objects.filter(ticket_id__in=ticket_ids)
    survey_count = surveys.update(comment="")
    BotRun.objects.filter(ticket_id__in=ticket_ids).update(summary={}, reasons=[])

    actions = list(ProposedAction.objects.filter(Q(lead_id__in=lead_ids) | Q(ticket_id__in=ticket_ids)))
    for action in actions:
        action.payload = scrub_json(action.payload, needles)
        action.rationale = scrub_text(action.rationale, needles)
        action.save(update_fields=["payload", "rationale", "updated_at"])
    action_ids = [a.pk for a in actions]
    for decision in Decision.objects.filter(action_id__in=action_ids):
        decision.comment = scrub_text(decision.comment, needles)
        decision.original_payload = scrub_json(decision.original_payload, needles)
        decision.final_payload = scrub_json(decision.final_payload, needles)
        decision.payload_diff = scrub_json(decision.payload_diff, needles)
        decision.save(update_fields=["comment", "original_payload", "final_payload", "payload_diff"])
    for execution in ActionExecution.objects.filter(action_id__in=action_ids).exclude(last_error=""):
        execution.last_error = scrub_text(execution.last_error, needles)
        execution.save(update_fields=["last_error"])
    for attempt in ExecutionAttempt.objects.filter(action_id__in=action_ids).exclude(error=""):
        attempt.error = scrub_text(attempt.error, needles)
        attempt.save(update_fields=["error"])
    notes = 0
    for note in Notification.objects.filter(action_id__in=action_ids):
        note.subject = scrub_text(note.subject, needles)[:250]
        note.body = scrub_text(note.body, needles)
        note.html = scrub_text(note.html, needles)
        note.save(update_fields=["subject", "body", "html"])
        notes += 1

    webhook_count = _erase_webhook_events(leads, tickets, address)
    conflicts = SyncConflict.objects.filter(
        Q(record_kind="lead", record_id__in=lead_ids) | Q(record_kind="ticket", record_id__in=ticket_ids)
    ).update(ours=None, theirs=None)
    return {
        "leads": len(lead_ids),
        "lead_ids": lead_ids,
        "tickets": len(ticket_ids),
        "ticket_ids": ticket_ids,
        "lead_events": event_count,
        "actions": len(action_ids),
        "survey_responses": survey_count,
        "notifications": notes,
        "webhook_events": webhook_count,
        "sync_conflicts": conflicts,
    }


def _erase_webhook_events(leads: list[Lead], tickets: list[Ticket], address: str) -> int:
    """Blank the raw events received about the person: those about their records (by vendor id),
    and any other whose payload or body mentions their address. The payloads are encrypted at rest,
    so the mention is looked for in the decrypted values, a chunk of events at a time."""
    match = Q(pk__in=[])
    for lead in leads:
        match |= Q(vendor=lead.source, entity_id=lead.external_id)
        if lead.salesforce_id:
            match |= Q(vendor="salesforce", entity_id=lead.salesforce_id)
        if lead.hubspot_id:
            match |= Q(vendor="hubspot", entity_id=lead.hubspot_id)
    for ticket in tickets:
        match |= Q(vendor=ticket.source, entity_id=ticket.external_id)
    ids = set(WebhookEvent.objects.filter(match).values_list("pk", flat=True))
    needle = address.lower()
    for pk, payload, raw_body in (
        WebhookEvent.objects.exclude(pk__in=ids)
        .values_list("pk", "payload", "raw_body")
        .iterator(chunk_size=500)
    ):
        if needle in (raw_body or "").lower() or needle in json.dumps(payload, default=str).lower():
            ids.add(pk)
    changed = 0
    for event in WebhookEvent.objects.filter(pk__in=sorted(ids)):
        event.payload, event.raw_body, event.error = {}, "", ""
        event.save(update_fields=["payload", "raw_body", "error"])
        changed += 1
    return changed


def access_export(*, request: DataSubjectRequest, user: Any) -> dict[str, Any]:
    """Everything held about the person, as one JSON-ready document; completes the request.

    The document is returned for the requester to download, not stored: the request keeps only counts.
    """
    actor = _actor(user)
    now = timezone.now()
    with transaction.atomic():
        request = _pending(request.pk, RequestKind.ACCESS)
        address = request.subject_email
        leads = list(leads_with_email(email=address))
        tickets = list(tickets_with_requester_email(email=address))
        lead_ids = [lead.pk for lead in leads]
        ticket_ids = [t.pk for t in tickets]
        document: dict[str, Any] = {
            "subject_email": address,
            "generated_at": now.isoformat(),
            "request_id": request.pk,
            "leads": [_lead_doc(lead) for lead in leads],
            "tickets": [_ticket_doc(t) for t in tickets],
            "consent": _consent_doc(leads, address),
            "enrolments": list(
                Enrolment.objects.filter(lead_id__in=lead_ids)
                .order_by("enrolled_at", "id")
                .values("lead_id", "cadence__name", "status", "exit_reason", "enrolled_at", "ended_at")
            ),
            "proposed_actions": list(
                ProposedAction.objects.filter(Q(lead_id__in=lead_ids) | Q(ticket_id__in=ticket_ids))
                .order_by("created_at", "id")
                .values(
                    "id",
                    "kind",
                    "status",
                    "lead_id",
                    "ticket_id",
                    "payload",
                    "rationale",
                    "created_at",
                    "executed_at",
                )
            ),
        }
        counts = {
            "leads": len(leads),
            "tickets": len(tickets),
            "consent_records": len(document["consent"]),
            "proposed_actions": len(document["proposed_actions"]),
        }
        request.status = RequestStatus.COMPLETED
        request.completed_at = now
        request.completed_by = user if user is not None and user.is_authenticated else None
        request.subject_email = ""
        request.result = counts
        request.save()
        decision_log_append(
            event_type=EventType.PRIVACY_ACCESS,
            actor=actor,
            subject_type="data_subject_request",
            subject_id=request.pk,
            action_taken={"status": RequestStatus.COMPLETED, **counts},
        )
    return _jsonable(document)


def _lead_doc(lead: Lead) -> dict[str, Any]:
    fields = (
        "id",
        "source",
        "external_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "title",
        "company_name",
        "country",
        "timezone",
        "status",
        "consent_state",
        "outcome",
        "attributes",
        "created_at",
        "updated_at",
    )
    doc = {name: getattr(lead, name) for name in fields}
    doc["events"] = list(
        lead.events.order_by("occurred_at", "id").values("kind", "occurred_at", "external_id", "properties")
    )
    return doc


def _ticket_doc(ticket: Ticket) -> dict[str, Any]:
    fields = (
        "id",
        "source",
        "external_id",
        "subject",
        "body",
        "requester_name",
        "requester_email",
        "status",
        "channel",
        "created_at",
        "resolved_at",
    )
    doc = {name: getattr(ticket, name) for name in fields}
    survey = SurveyResponse.objects.filter(ticket=ticket).values("score", "comment", "responded_at").first()
    doc["survey"] = survey
    return doc


def _consent_doc(leads: list[Lead], address: str) -> list[dict[str, Any]]:
    key = email_key(address)
    match = Q(email_key=key) | Q(lead_id__in=[lead.pk for lead in leads])
    rows = ConsentRecord.objects.filter(match).order_by("recorded_at", "id")
    fields = ("lead_id", "channel", "status", "lawful_basis", "source", "recorded_at", "recorded_by")
    return [dict(row) for row in rows.values(*fields)]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


__all__ = [
    "ConsentChange",
    "PrivacyError",
    "access_export",
    "consent_record",
    "consent_withdraw",
    "data_subject_request_create",
    "erasure_execute",
]
