"""Reads of the consent registry: the current state per person and channel, in bulk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db.models import Q, QuerySet

from privacy.choices import MESSAGE_KIND_CHANNEL, Channel, ConsentStatus
from privacy.keys import email_key
from privacy.models import ConsentRecord
from sales.choices import ConsentState
from sales.models import Lead

#: What ``consent_for`` answers for a channel the person withdrew (sales.cadence skips the step).
WITHDRAWN = ConsentStatus.WITHDRAWN.value


def consent_states(*, leads: Sequence[Lead]) -> dict[int, dict[str, str]]:
    """The latest recorded status per channel of each lead, matched by the lead or by its email
    key (a suppression recorded for the address applies to every lead with it). One query."""
    keys: dict[str, list[int]] = defaultdict(list)
    for lead in leads:
        key = email_key(lead.email)
        if key:
            keys[key].append(lead.pk)
    ids = [lead.pk for lead in leads]
    if not ids:
        return {}
    rows = (
        ConsentRecord.objects.filter(Q(lead_id__in=ids) | Q(email_key__in=list(keys)))
        .order_by("recorded_at", "id")
        .values_list("lead_id", "email_key", "channel", "status")
    )
    states: dict[int, dict[str, str]] = {pk: {} for pk in ids}
    wanted = set(ids)
    for lead_id, key, channel, status in rows:
        targets = set(keys.get(key, ())) if key else set()
        if lead_id in wanted:
            targets.add(lead_id)
        for target in targets:
            states[target][channel] = status  # rows come oldest first: the latest wins
    return states


def consent_for(lead: Lead, channel: str, states: dict[str, str]) -> str:
    """What may be done on ``channel``: ``opted_out`` (the lead opted out of everything),
    ``withdrawn`` (this channel only), else the lead's own state (granted or unknown), raised to
    granted by a grant recorded for this channel."""
    if lead.consent_state == ConsentState.OPTED_OUT:
        return ConsentState.OPTED_OUT
    recorded = states.get(channel)
    if recorded == ConsentStatus.WITHDRAWN:
        return WITHDRAWN
    if recorded == ConsentStatus.GRANTED:
        return ConsentState.GRANTED
    return lead.consent_state


def message_refusal(*, lead: Lead | None, kind: str, to: str = "") -> str:
    """Why a message of ``kind`` must not go out now (empty when it may), read at execution time:
    a lead that opted out, withdrew consent to the message's channel, or an email address under
    suppression (an erased person) even without a lead."""
    channel = MESSAGE_KIND_CHANNEL.get(kind)
    if channel is None:
        return ""
    if lead is not None:
        state = consent_for(lead, channel, consent_states(leads=[lead]).get(lead.pk, {}))
        if state == ConsentState.OPTED_OUT:
            return "the contact opted out"
        if state == WITHDRAWN:
            return f"the contact withdrew consent to {channel}"
    if channel == Channel.EMAIL and to:
        if email_key(to) in suppressed_email_keys(keys=[email_key(to)]):
            return "the address is suppressed (the person asked to be erased or opted out of everything)"
    return ""


def suppressed_email_keys(*, keys: Iterable[str]) -> set[str]:
    """Keys whose latest record is a withdrawal for every channel: never contact them again, and a
    re-import of the address arrives opted out."""
    wanted = {k for k in keys if k}
    if not wanted:
        return set()
    latest: dict[str, dict[str, str]] = defaultdict(dict)
    for key, channel, status in (
        ConsentRecord.objects.filter(email_key__in=wanted)
        .order_by("recorded_at", "id")
        .values_list("email_key", "channel", "status")
    ):
        latest[key][channel] = status
    every = {c.value for c in Channel}
    return {
        key
        for key, by_channel in latest.items()
        if set(by_channel) == every and all(s == ConsentStatus.WITHDRAWN for s in by_channel.values())
    }


def consent_history(*, lead: Lead) -> QuerySet[ConsentRecord]:
    """Every consent record about the lead (by the lead or its address), newest first."""
    key = email_key(lead.email)
    match = Q(lead=lead) | Q(email_key=key) if key else Q(lead=lead)
    return ConsentRecord.objects.filter(match).order_by("-recorded_at", "-id")
