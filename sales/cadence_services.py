"""Running cadences: enrol approved leads, take each due step, stop on replies and opt-outs.

The rules are pure (``sales.cadence``, ``sales.templating``, ``sales.compliance``); this module
gathers their facts in bulk and writes what they decide, each batch in one transaction with its
decision-log entries, in a number of queries that does not grow with the batch.

A step that reaches out (email, SMS) or asks an SDR to (phone and LinkedIn tasks) becomes a
proposed action, so the approval policy decides whether a person reads it first; its compliance
flags go with it. Consent is checked per channel when the step is drafted (the lead's state and the
consent registry, ``consent.selectors``), again by ``lead_opt_out`` and ``privacy.services.
consent_withdraw``, which withdraw the messages that have not gone out yet, and again by the
executor just before sending.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from approvals.choices import ActionKind, ActionStatus
from approvals.executors import Outcome, kind_refusals
from audit.bulk import LogEntry, decision_log_append_many
from audit.choices import EventType
from consent.choices import CADENCE_CHANNEL_CONSENT, ConsentSource
from consent.selectors import consent_states
from consent.services import consent_withdrawals_add
from core.bulk import insert_many, update_many
from sales.cadence import (
    DEFER,
    EXIT,
    SKIP,
    Pacing,
    QuietHours,
    StepFacts,
    consent_for,
    decide_step,
    enrolment_day,
)
from sales.choices import (
    EXIT_EVENT_KINDS,
    CadenceChannel,
    ConsentState,
    EnrolmentStatus,
    ExitReason,
    LeadEventKind,
    TouchStatus,
)
from sales.compliance import Pattern, compile_patterns, flags, scan
from sales.models import (
    Cadence,
    CadenceStep,
    CompliancePattern,
    Enrolment,
    Lead,
    LeadEvent,
    SdrQueue,
    SequencingSettings,
    Touch,
)
from sales.models.cadences import EXIT_OUTCOME_FIELDS
from sales.scores import lead_top_reasons
from sales.templating import TemplateError, render
from sales.unsubscribe import unsubscribe_url

CADENCE_AGENT = "sdr-agent:cadences"
OPEN = (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED)
#: Proposed actions of a touch that have not gone out yet, so an opt-out can still withdraw them.
UNSENT = (ActionStatus.PROPOSED, ActionStatus.PENDING_APPROVAL, ActionStatus.APPROVED)
MESSAGE_KINDS = (ActionKind.SEND_EMAIL, ActionKind.SEND_SMS)
#: The kind a step of each channel proposes (the SDR's tasks: ``create_task``).
CHANNEL_KINDS: dict[str, str] = {
    CadenceChannel.EMAIL: ActionKind.SEND_EMAIL,
    CadenceChannel.SMS: ActionKind.SEND_SMS,
}
SIGNAL_LOOKBACK = timedelta(days=30)


def _rules(settings: SequencingSettings) -> tuple[QuietHours, Pacing]:
    return (
        QuietHours(settings.quiet_hours_start, settings.quiet_hours_end, settings.contact_on_weekends),
        Pacing(settings.max_touches_per_contact, timedelta(days=settings.pacing_window_days)),
    )


# --- Enrolment ---------------------------------------------------------------------------------


def cadence_enrolments_execute(actions: Sequence[Any], now: datetime) -> list[Outcome]:
    """The executor of approved ``enrol_cadence`` actions (registered in ``SalesConfig.ready``; the
    outbox runs it in its fenced transaction and settles the outcomes): enrol each lead in the
    named cadence.

    The cadence runs inside AgentOps, so the action is executed here. An SDR gets at most the
    configured number of new enrolments a day; the excess starts on the next days with room, it is
    never dropped. An unknown or switched-off cadence fails the action with the reason; an
    opted-out lead cancels it. An action enrols once (``source_action`` is unique).
    """
    outcomes: list[Outcome] = []
    if not actions:
        return outcomes
    settings = SequencingSettings.current()
    names = {a.payload.get("cadence", "") for a in actions}
    cadences = {c.name: c for c in Cadence.objects.filter(name__in=names).prefetch_related("steps")}
    open_pairs = set(
        Enrolment.objects.filter(lead_id__in=[a.lead_id for a in actions], status__in=OPEN).values_list(
            "lead_id", "cadence_id"
        )
    )
    owners = _owners_for(actions)
    booked = _enrolments_per_owner_day([o for o in owners.values() if o is not None], now.date())
    enrolments: list[Enrolment] = []
    entries: list[LogEntry] = []
    for action in actions:
        lead = action.lead
        cadence = cadences.get(action.payload.get("cadence", ""))
        if lead is None:
            outcomes.append(Outcome(action.pk, ActionStatus.FAILED, "enrol_cadence needs a lead"))
            continue
        if lead.consent_state == ConsentState.OPTED_OUT:
            outcomes.append(Outcome(action.pk, ActionStatus.CANCELLED, "the contact has opted out"))
            continue
        if cadence is None or not cadence.is_active or not cadence.steps.all():
            reason = "no such cadence" if cadence is None else "the cadence is switched off or has no steps"
            outcomes.append(
                Outcome(action.pk, ActionStatus.FAILED, f"{reason}: {action.payload.get('cadence')!r}")
            )
            continue
        if (lead.pk, cadence.pk) in open_pairs:
            outcomes.append(Outcome(action.pk, ActionStatus.EXECUTED, "already enrolled in this cadence"))
            continue
        owner_id = owners.get(action.pk)
        start = now
        if owner_id is not None:
            day = enrolment_day(booked[owner_id], now.date(), settings.max_new_enrolments_per_sdr_per_day)
            booked[owner_id][day] += 1
            if day != now.date():
                start = datetime.combine(day, time(0, 0), tzinfo=now.tzinfo)
        first = min(cadence.steps.all(), key=lambda s: s.position)
        enrolments.append(
            Enrolment(
                lead=lead,
                cadence=cadence,
                owner_id=owner_id,
                source_action=action,
                status=EnrolmentStatus.ACTIVE,
                next_position=first.position,
                next_step_at=start + timedelta(days=first.wait_days),
                enrolled_at=start,
                wait_reason=""
                if start == now
                else "the SDR's daily enrolment limit is reached; starts later",
            )
        )
        open_pairs.add((lead.pk, cadence.pk))
        later = "" if start == now else f" (the SDR's daily limit is reached: starts {start:%Y-%m-%d})"
        outcomes.append(Outcome(action.pk, ActionStatus.EXECUTED, f"enrolled in {cadence.name}{later}"))
        entries.append(
            LogEntry(
                event_type=EventType.CADENCE_ENROLLED,
                actor=CADENCE_AGENT,
                subject_type="lead",
                subject_id=lead.pk,
                correlation_id=action.correlation_id,
                action_taken={"cadence": cadence.name, "owner_id": owner_id, "starts_at": start.isoformat()},
            )
        )
    insert_many(Enrolment, enrolments)
    decision_log_append_many(entries=entries)
    return outcomes


def _owners_for(actions: Sequence[Any]) -> dict[int, int | None]:
    """The SDR working each enrolment: the lead's owner, else the member of the action's SDR queue
    with the fewest open enrolments (ties by id), else nobody (no per-SDR limit then applies)."""
    queue_names = {
        a.payload.get("queue") for a in actions if a.lead.owner_id is None and a.payload.get("queue")
    }
    members: dict[str, list[int]] = defaultdict(list)
    for name, user_id in SdrQueue.objects.filter(name__in=queue_names, is_active=True).values_list(
        "name", "members"
    ):
        if user_id is not None:
            members[name].append(user_id)
    all_members = {m for ids in members.values() for m in ids}
    load = dict(
        Enrolment.objects.filter(owner_id__in=all_members, status__in=OPEN)
        .values_list("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )
    owners: dict[int, int | None] = {}
    for action in actions:
        if action.lead.owner_id is not None:
            owners[action.pk] = action.lead.owner_id
            continue
        candidates = sorted(members.get(action.payload.get("queue", ""), []))
        if not candidates:
            owners[action.pk] = None
            continue
        chosen = min(candidates, key=lambda m: (load.get(m, 0), m))
        load[chosen] = load.get(chosen, 0) + 1
        owners[action.pk] = chosen
    return owners


def _enrolments_per_owner_day(owner_ids: Iterable[int], today: date) -> dict[int, defaultdict[date, int]]:
    booked: dict[int, defaultdict[date, int]] = defaultdict(lambda: defaultdict(int))
    start = datetime.combine(today, time(0, 0), tzinfo=timezone.get_current_timezone())
    rows = (
        Enrolment.objects.filter(owner_id__in=set(owner_ids), enrolled_at__gte=start)
        .annotate(day=TruncDate("enrolled_at"))
        .values_list("owner_id", "day")
        .annotate(n=Count("id"))
    )
    for owner_id, day, n in rows:
        booked[owner_id][day] += n
    return booked


# --- Steps -------------------------------------------------------------------------------------


@dataclass
class AdvanceSummary:
    due: int = 0
    proposed: int = 0
    skipped: int = 0
    deferred: int = 0
    failed: int = 0
    exited: dict[str, int] = field(default_factory=dict)
    completed: int = 0
    withdrawn: int = 0

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "exited": dict(self.exited)}


def _needing_attention(now: datetime) -> QuerySet[Enrolment]:
    """Open enrolments with a due step, or whose lead has opted out or sent an exit signal since."""
    signal = LeadEvent.objects.filter(
        lead_id=OuterRef("lead_id"), kind__in=list(EXIT_EVENT_KINDS), occurred_at__gte=OuterRef("enrolled_at")
    )
    return Enrolment.objects.filter(status=EnrolmentStatus.ACTIVE).filter(
        Q(next_step_at__lte=now) | Q(lead__consent_state=ConsentState.OPTED_OUT) | Exists(signal)
    )


def cadences_advance(*, now: datetime | None = None, batch_size: int | None = None) -> AdvanceSummary:
    """Take every due step (and every exit) of the active enrolments, a batch at a time.

    Each batch is one transaction; its rows are locked (other workers skip them) so two workers never
    take the same step, and a touch is unique per enrolment and step besides. Safe to run twice.
    """
    now = now or timezone.now()
    settings = SequencingSettings.current()
    size = batch_size or settings.batch_size
    summary = AdvanceSummary()
    seen: set[int] = set()
    while True:
        with transaction.atomic():
            query = _needing_attention(now).exclude(pk__in=seen).order_by("next_step_at", "pk")
            if connection.features.has_select_for_update_skip_locked:
                query = query.select_for_update(skip_locked=True, of=("self",))
            batch = list(query.select_related("lead__account", "lead__owner", "cadence")[:size])
            if not batch:
                return summary
            seen.update(e.pk for e in batch)
            _advance_batch(batch, now=now, settings=settings, summary=summary)


@dataclass
class _Batch:
    """What one batch writes, collected while the rules decide."""

    touches: list[Touch] = field(default_factory=list)
    proposals: list[Any] = field(default_factory=list)
    proposal_touches: dict[str, Touch] = field(default_factory=dict)
    entries: list[LogEntry] = field(default_factory=list)
    touched_outcomes: list[Touch] = field(default_factory=list)
    withdraw: list[int] = field(default_factory=list)
    opted_out: dict[int, str] = field(default_factory=dict)


def _advance_batch(
    batch: list[Enrolment], *, now: datetime, settings: SequencingSettings, summary: AdvanceSummary
) -> None:
    from approvals.services import actions_propose_many

    quiet, pacing = _rules(settings)
    lead_ids = sorted({e.lead_id for e in batch})
    channel_consent = consent_states(leads=list({e.lead_id: e.lead for e in batch}.values()))
    steps = _steps_by_cadence({e.cadence_id for e in batch})
    signals = _exit_signals(lead_ids, since=min(e.enrolled_at for e in batch))
    recent = _recent_touch_times(lead_ids, since=now - pacing.window)
    last_touches = _latest_touches([e.pk for e in batch])
    merge = _merge_values(batch, now=now)
    patterns = compile_patterns(
        Pattern(p.flag, p.regex)
        for p in CompliancePattern.objects.filter(is_active=True).only("flag", "regex")
    )
    unsendable = _unsendable_channels(steps)
    out = _Batch()
    for enrolment in batch:
        lead = enrolment.lead
        lead_signals: dict[str, datetime] = {}
        for kind, at in signals.get(lead.pk, ()):
            if at >= enrolment.enrolled_at:
                lead_signals.setdefault(EXIT_EVENT_KINDS[kind], at)
        cadence_steps = steps.get(enrolment.cadence_id, {})
        step = cadence_steps.get(enrolment.next_position)
        due = enrolment.next_step_at is not None and enrolment.next_step_at <= now
        if step is None and not lead_signals and lead.consent_state != ConsentState.OPTED_OUT:
            if due:
                _close(enrolment, EnrolmentStatus.COMPLETED, "", now, out)
                summary.completed += 1
            continue
        decision = decide_step(
            StepFacts(
                now=now,
                channel=step.channel if step else CadenceChannel.EMAIL,
                consent=consent_for(
                    lead,
                    CADENCE_CHANNEL_CONSENT[step.channel if step else CadenceChannel.EMAIL],
                    channel_consent.get(lead.pk, {}),
                ),
                timezone=lead.timezone,
                signals=frozenset(lead_signals),
                recent_touches=tuple(recent.get(lead.pk, ())),
            ),
            quiet=quiet,
            pacing=pacing,
        )
        if decision.verdict == EXIT:
            reason = decision.reason
            if (
                reason in (ExitReason.OPTED_OUT, ExitReason.COMPLAINT)
                and lead.consent_state != ConsentState.OPTED_OUT
            ):
                out.opted_out[lead.pk] = reason
            _close(enrolment, EnrolmentStatus.EXITED, reason, now, out)
            _attribute(last_touches.get(enrolment.pk), reason, lead_signals.get(reason, now), out)
            summary.exited[reason] = summary.exited.get(reason, 0) + 1
            continue
        if not due or step is None or not enrolment.cadence.is_active:
            continue  # selected for a possible exit only, or its cadence is switched off meanwhile
        summary.due += 1
        if decision.verdict == DEFER:
            assert decision.at is not None
            enrolment.next_step_at, enrolment.wait_reason = decision.at, decision.reason
            summary.deferred += 1
            continue
        touch = Touch(
            enrolment=enrolment,
            lead=lead,
            step=step,
            position=step.position,
            channel=step.channel,
            touched_at=now,
            template_version=step.template.version,
        )
        if decision.verdict == SKIP:
            touch.status, touch.reason = TouchStatus.SKIPPED, decision.reason
            summary.skipped += 1
        elif step.channel in unsendable:
            touch.status, touch.reason = TouchStatus.SKIPPED, unsendable[step.channel][:500]
            summary.skipped += 1
        else:
            proposal = _draft(enrolment, step, touch, merge[enrolment.pk], patterns, settings)
            if proposal is None:
                enrolment.status = EnrolmentStatus.PAUSED
                enrolment.wait_reason = f"step {step.position}: {touch.reason}"
                out.touches.append(touch)
                out.entries.append(_step_entry(enrolment, touch, "paused"))
                summary.failed += 1
                continue
            out.proposals.append(proposal)
            out.proposal_touches[proposal.idempotency_key] = touch
            recent.setdefault(lead.pk, []).append(now)
            summary.proposed += 1
        if touch.status == TouchStatus.SKIPPED:
            out.touches.append(touch)
            out.entries.append(_step_entry(enrolment, touch, "skipped"))
        _move_on(enrolment, step, cadence_steps, now, settings)
    ids, _ = actions_propose_many(proposals=out.proposals, actor="policy")
    for key, touch in out.proposal_touches.items():
        touch.action_id = ids.get(key)
        out.touches.append(touch)
    insert_many(Touch, out.touches)
    update_many(
        Enrolment,
        batch,
        ["status", "exit_reason", "next_position", "next_step_at", "wait_reason", "ended_at", "updated_at"],
    )
    update_many(Touch, out.touched_outcomes, [*sorted(set(EXIT_OUTCOME_FIELDS.values())), "updated_at"])
    decision_log_append_many(entries=out.entries)
    summary.withdrawn += _withdraw(out.withdraw, reason="the cadence ended before this went out")
    for lead_id, reason in out.opted_out.items():
        # An unsubscribe or a spam complaint is an opt-out from everything, not only this cadence:
        # a withdrawal of every channel in the consent registry (the proof), applied by lead_opt_out.
        opt_out = lead_opt_out(
            lead_id=lead_id,
            source=ConsentSource.REPLY_UNSUBSCRIBE,
            actor=CADENCE_AGENT,
            note=f"{reason} event",
        )
        summary.withdrawn += opt_out.messages_withdrawn


def _unsendable_channels(steps: Mapping[int, Mapping[int, CadenceStep]]) -> dict[str, str]:
    """Why nothing can send a channel's steps now, per channel (a vetoed kind: no SMS provider, see
    ``approvals.executors.kind_refusals``), asked once per channel: such a step is skipped with that
    reason, as a step without consent is, and the cadence moves on (never approved, then unrunnable)."""
    reasons: dict[str, str] = {}
    for channel in {step.channel for by_position in steps.values() for step in by_position.values()}:
        refusals = kind_refusals(kind=CHANNEL_KINDS.get(channel, ActionKind.CREATE_TASK), domain="sales")
        if refusals:
            reasons[channel] = "; ".join(getattr(r, "reason", str(r)) for r in refusals)
    return reasons


def _move_on(
    enrolment: Enrolment,
    step: CadenceStep,
    cadence_steps: Mapping[int, CadenceStep],
    now: datetime,
    settings: SequencingSettings,
) -> None:
    """Point the enrolment at the next step; after the last one, wait for a reply before completing."""
    later = sorted(p for p in cadence_steps if p > step.position)
    if later:
        enrolment.next_position = later[0]
        enrolment.next_step_at = now + timedelta(days=cadence_steps[later[0]].wait_days)
        enrolment.wait_reason = ""
    else:
        enrolment.next_position = step.position + 1
        enrolment.next_step_at = now + timedelta(days=settings.completion_wait_days)
        enrolment.wait_reason = "last step taken; waiting for a reply before completing"


def _close(enrolment: Enrolment, status: str, reason: str, now: datetime, out: _Batch) -> None:
    enrolment.status, enrolment.exit_reason, enrolment.ended_at = status, reason, now
    enrolment.next_step_at, enrolment.wait_reason = None, ""
    out.entries.append(
        LogEntry(
            event_type=EventType.CADENCE_EXITED,
            actor=CADENCE_AGENT,
            subject_type="lead",
            subject_id=enrolment.lead_id,
            action_taken={"cadence": enrolment.cadence.name, "status": status, "reason": reason},
        )
    )
    if status == EnrolmentStatus.EXITED:
        out.withdraw.append(enrolment.pk)


def _attribute(touch: Touch | None, reason: str, at: datetime, out: _Batch) -> None:
    """Credit the signal to the touch that preceded it (what the per-step metrics count)."""
    field_name = EXIT_OUTCOME_FIELDS.get(ExitReason(reason))
    if touch is None or field_name is None or getattr(touch, field_name) is not None:
        return
    setattr(touch, field_name, at)
    out.touched_outcomes.append(touch)


def _step_entry(enrolment: Enrolment, touch: Touch, what: str) -> LogEntry:
    return LogEntry(
        event_type=EventType.CADENCE_STEP,
        actor=CADENCE_AGENT,
        subject_type="lead",
        subject_id=enrolment.lead_id,
        action_taken={
            "cadence": enrolment.cadence.name,
            "step": touch.position,
            "channel": touch.channel,
            "status": what,
            "reason": touch.reason,
        },
    )


def _draft(
    enrolment: Enrolment,
    step: CadenceStep,
    touch: Touch,
    values: Mapping[str, object],
    patterns: Sequence[Any],
    settings: SequencingSettings,
) -> Any:
    """The proposed action for a step, or None with ``touch`` marked failed and the reason why."""
    from approvals.services import NewProposal

    lead, template = enrolment.lead, step.template
    try:
        subject = render(template.subject, values) if step.channel == CadenceChannel.EMAIL else ""
        body = render(template.body, values)
    except TemplateError as exc:
        touch.status, touch.reason = TouchStatus.FAILED, f"template {template.name!r}: {exc}"
        return None
    if step.channel == CadenceChannel.EMAIL and not lead.email:
        touch.status, touch.reason = TouchStatus.FAILED, "the lead has no email address"
        return None
    if step.channel == CadenceChannel.SMS and not lead.phone:
        touch.status, touch.reason = TouchStatus.FAILED, "the lead has no phone number"
        return None
    findings = scan(
        subject=subject,
        body=body,
        channel=step.channel,
        patterns=patterns,
        postal_address=settings.postal_address,
    )
    touch.status, touch.compliance_flags = TouchStatus.PROPOSED, flags(findings)
    kind, payload = _action_for(step.channel, lead, subject, body, step)
    key = hashlib.sha256(f"cadence-touch:{enrolment.pk}:{step.position}".encode()).hexdigest()
    rationale = (
        f"Step {step.position} of the cadence {enrolment.cadence.name!r} ({step.get_channel_display()}), "
        f"drafted from template {template.name!r} v{template.version}."
    )
    if findings:
        rationale += " Compliance: " + "; ".join(f"{f.flag} ({f.excerpt})" for f in findings) + "."
    return NewProposal(
        kind=kind,
        domain="sales",
        payload=payload,
        rationale=rationale,
        confidence=0.9,
        confidence_source="rule",
        risk_level="medium" if findings else "low",
        idempotency_key=key,
        proposed_by=CADENCE_AGENT,
        lead_id=lead.pk,
        matched_rule=f"{enrolment.cadence.name} · step {step.position}"[:200],
        compliance_flags=touch.compliance_flags,
        input_context={
            "lead_id": lead.pk,
            "enrolment_id": enrolment.pk,
            "template_version": template.version,
        },
        action_taken={"cadence": enrolment.cadence.name, "step": step.position, "channel": step.channel},
    )


def _action_for(
    channel: str, lead: Lead, subject: str, body: str, step: CadenceStep
) -> tuple[str, dict[str, Any]]:
    if channel == CadenceChannel.EMAIL:
        return ActionKind.SEND_EMAIL, {"to": lead.email, "subject": subject, "body": body}
    if channel == CadenceChannel.SMS:
        return ActionKind.SEND_SMS, {"to": lead.phone, "body": body}
    what = "Call" if channel == CadenceChannel.PHONE_TASK else "Reach out on LinkedIn to"
    return ActionKind.CREATE_TASK, {
        "subject": f"{what} {lead.display_name} ({step.cadence.name}, step {step.position})"[:255],
        "description": body,
        "due_in_days": 0,
    }


def _steps_by_cadence(cadence_ids: Iterable[int]) -> dict[int, dict[int, CadenceStep]]:
    steps: dict[int, dict[int, CadenceStep]] = defaultdict(dict)
    for step in CadenceStep.objects.filter(cadence_id__in=set(cadence_ids)).select_related(
        "template", "cadence"
    ):
        steps[step.cadence_id][step.position] = step
    return steps


def _exit_signals(lead_ids: Sequence[int], *, since: datetime) -> dict[int, list[tuple[str, datetime]]]:
    signals: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for lead_id, kind, at in (
        LeadEvent.objects.filter(
            lead_id__in=lead_ids, kind__in=list(EXIT_EVENT_KINDS), occurred_at__gte=since
        )
        .order_by("occurred_at")
        .values_list("lead_id", "kind", "occurred_at")
    ):
        signals[lead_id].append((kind, at))
    return signals


def _recent_touch_times(lead_ids: Sequence[int], *, since: datetime) -> dict[int, list[datetime]]:
    """Touches that reached (or are about to reach) each contact, across every cadence and channel."""
    recent: dict[int, list[datetime]] = defaultdict(list)
    for lead_id, at in Touch.objects.filter(
        lead_id__in=lead_ids, touched_at__gt=since, status__in=[TouchStatus.PROPOSED, TouchStatus.SENT]
    ).values_list("lead_id", "touched_at"):
        recent[lead_id].append(at)
    return recent


def _latest_touches(enrolment_ids: Sequence[int]) -> dict[int, Touch]:
    latest: dict[int, Touch] = {}
    for touch in Touch.objects.filter(
        enrolment_id__in=enrolment_ids, status__in=[TouchStatus.PROPOSED, TouchStatus.SENT]
    ).order_by("enrolment_id", "position"):
        latest[touch.enrolment_id] = touch
    return latest


_SIGNAL_WORDS = {
    LeadEventKind.PRICING_VISIT: "visited the pricing page",
    LeadEventKind.DEMO_REQUEST: "asked for a demo",
    LeadEventKind.WEBINAR: "attended the webinar",
    LeadEventKind.CONTENT_DOWNLOAD: "downloaded our guide",
    LeadEventKind.WEB_VISIT: "visited the website",
    LeadEventKind.EMAIL_CLICK: "clicked a link in our email",
    LeadEventKind.INTENT_SIGNAL: "is researching solutions like ours",
}


def _merge_values(batch: Sequence[Enrolment], *, now: datetime) -> dict[int, dict[str, object]]:
    """The listed merge fields of each enrolment's lead (``sales.templating.MERGE_FIELDS``), in bulk."""
    lead_ids = sorted({e.lead_id for e in batch})
    top_reasons = lead_top_reasons(lead_ids)
    latest_signal: dict[int, str] = {}
    for lead_id, kind in (
        LeadEvent.objects.filter(
            lead_id__in=lead_ids,
            kind__in=list(_SIGNAL_WORDS),
            occurred_at__gte=now - SIGNAL_LOOKBACK,
        )
        .order_by("lead_id", "occurred_at")
        .values_list("lead_id", "kind")
    ):
        latest_signal[lead_id] = _SIGNAL_WORDS[LeadEventKind(kind)]
    owner_ids = {e.owner_id for e in batch if e.owner_id} | {
        e.lead.owner_id for e in batch if e.lead.owner_id
    }
    User = get_user_model()
    senders = {u.pk: (u.get_full_name() or u.get_username()) for u in User.objects.filter(pk__in=owner_ids)}
    values: dict[int, dict[str, object]] = {}
    for enrolment in batch:
        lead = enrolment.lead
        values[enrolment.pk] = {
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "full_name": f"{lead.first_name} {lead.last_name}".strip(),
            "title": lead.title,
            "company": lead.account.name if lead.account else lead.company_name,
            "industry": lead.account.industry if lead.account else "",
            "country": lead.country,
            "sender_name": senders.get(enrolment.owner_id or lead.owner_id or 0, ""),
            "top_reason": top_reasons.get(lead.pk, ""),
            "recent_signal": latest_signal.get(lead.pk, ""),
            "unsubscribe_url": unsubscribe_url(lead_id=lead.pk),
        }
    return values


def _withdraw(enrolment_ids: Sequence[int], *, reason: str) -> int:
    """Cancel every proposed touch of these enrolments that has not gone out yet."""
    from approvals.services import actions_cancel_unsent

    if not enrolment_ids:
        return 0
    touches = Touch.objects.filter(enrolment_id__in=list(enrolment_ids))
    cancelled = actions_cancel_unsent(
        reason=reason,
        actor=CADENCE_AGENT,
        action_ids=touches.filter(action__status__in=list(UNSENT)).values_list("action_id", flat=True),
    )
    touches.filter(action_id__in=cancelled).update(status=TouchStatus.CANCELLED, updated_at=timezone.now())
    return len(cancelled)


# --- Consent and manual control ----------------------------------------------------------------


@dataclass
class OptOutResult:
    enrolments_exited: int
    messages_withdrawn: int
    already_opted_out: bool
    #: The consent records proving the opt-out (a withdrawal of every channel).
    records: list[Any] = field(default_factory=list)


def lead_opt_out(
    *,
    lead_id: int,
    source: str,
    actor: str,
    lawful_basis: str = "consent",
    note: str = "",
    now: datetime | None = None,
) -> OptOutResult:
    """Record that a contact opted out, with immediate effect on queued work: the withdrawal of every
    channel is written to the consent registry (the proof, ``consent.services.consent_withdrawals_add``),
    every open enrolment ends and every message to the lead that has not gone out (proposed, pending
    or approved, from a cadence or not) is cancelled, all in one transaction with its log entries."""
    from approvals.services import actions_cancel_unsent

    now = now or timezone.now()
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        records = consent_withdrawals_add(
            lead=lead, source=source, actor=actor, lawful_basis=lawful_basis, note=note, now=now
        )
        already = lead.consent_state == ConsentState.OPTED_OUT
        if not already:
            previous = lead.consent_state
            lead.consent_state = ConsentState.OPTED_OUT
            lead.save(update_fields=["consent_state", "updated_at"])
            decision_log_append_many(
                entries=[
                    LogEntry(
                        event_type=EventType.CONSENT_CHANGED,
                        actor=actor,
                        subject_type="lead",
                        subject_id=lead.pk,
                        input_context={"source": source},
                        action_taken={"from": previous, "to": ConsentState.OPTED_OUT},
                    )
                ]
            )
        enrolment_ids = _exit_open(lead.pk, ExitReason.OPTED_OUT, at=now, now=now)
        cancelled = actions_cancel_unsent(reason="the contact opted out", actor=actor, lead_ids=[lead.pk])
        withdrawn = len(cancelled) + _withdraw(enrolment_ids, reason="the contact opted out")
    return OptOutResult(len(enrolment_ids), withdrawn, already, records)


def _exit_open(lead_id: int, reason: str, *, at: datetime, now: datetime) -> list[int]:
    """End the lead's open enrolments for ``reason``, credited to each one's last touch at ``at``,
    with their log entries; their ids. Call it in the caller's transaction."""
    enrolments = list(
        Enrolment.objects.select_for_update()
        .select_related("cadence")
        .filter(lead_id=lead_id, status__in=OPEN)
    )
    out = _Batch()
    last = _latest_touches([e.pk for e in enrolments])
    for enrolment in enrolments:
        _close(enrolment, EnrolmentStatus.EXITED, reason, now, out)
        _attribute(last.get(enrolment.pk), reason, at, out)
    update_many(
        Enrolment,
        enrolments,
        ["status", "exit_reason", "next_step_at", "wait_reason", "ended_at", "updated_at"],
    )
    outcome = EXIT_OUTCOME_FIELDS.get(ExitReason(reason))
    if outcome is not None:
        update_many(Touch, out.touched_outcomes, [outcome, "updated_at"])
    decision_log_append_many(entries=out.entries)
    return [e.pk for e in enrolments]


def lead_enrolments_exit(*, lead_id: int, event_kind: str, at: datetime, now: datetime | None = None) -> int:
    """End the lead's open enrolments at once for an exit signal that just arrived (a reply, a bounce:
    ``sales.choices.EXIT_EVENT_KINDS``), and withdraw their steps that have not gone out, in one
    transaction with the log entries; how many messages were withdrawn. The next cadence tick would
    end them too (the event is its signal); this closes the minutes in between, when a step approved
    earlier could still be sent. A kind that ends no cadence changes nothing."""
    reason = EXIT_EVENT_KINDS.get(event_kind)
    if reason is None:
        return 0
    with transaction.atomic():
        enrolment_ids = _exit_open(lead_id, reason, at=at, now=now or timezone.now())
        return _withdraw(enrolment_ids, reason="the cadence ended before this went out")


def enrolment_set_paused(
    *, enrolment_id: int, paused: bool, actor: str, reason: str = "", now: datetime | None = None
) -> Enrolment:
    """Pause an active enrolment, or resume a paused one (its next step is due at once)."""
    with transaction.atomic():
        enrolment = Enrolment.objects.select_for_update().select_related("cadence").get(pk=enrolment_id)
        source, target = (
            (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED)
            if paused
            else (EnrolmentStatus.PAUSED, EnrolmentStatus.ACTIVE)
        )
        if enrolment.status != source:
            raise ValueError(f"enrolment #{enrolment.pk} is {enrolment.status}, not {source}")
        enrolment.status = target
        enrolment.wait_reason = reason if paused else ""
        if not paused:
            enrolment.next_step_at = now or timezone.now()
            # The step that failed (a missing merge field, say) is tried again; its failure stays in the log.
            Touch.objects.filter(
                enrolment=enrolment, position=enrolment.next_position, status=TouchStatus.FAILED
            ).delete()
        enrolment.save(update_fields=["status", "wait_reason", "next_step_at", "updated_at"])
        decision_log_append_many(
            entries=[
                LogEntry(
                    event_type=EventType.CADENCE_STEP,
                    actor=actor,
                    subject_type="lead",
                    subject_id=enrolment.lead_id,
                    action_taken={"cadence": enrolment.cadence.name, "status": target, "reason": reason},
                )
            ]
        )
    return enrolment
