"""Reads of the consent registry: the current state per person and channel, in bulk, and whether a
message may go to each of its recipients (when it is proposed and again when it is sent)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from privacy.choices import MESSAGE_KIND_CHANNEL, Channel, ConsentStatus
from privacy.keys import email_key, normalise_email
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


@dataclass(frozen=True)
class Refusal:
    """Why a message may not go to one of its recipients: ``field`` names it (``lead``,
    ``payload.to``, ``payload.cc[1]``), ``reason`` says why."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


#: The payload fields of an email that name its recipients; each is checked like ``to``.
EMAIL_RECIPIENT_FIELDS = ("to", "cc", "bcc")
SUPPRESSED = "the address is suppressed (the person asked to be erased or opted out of everything)"


def message_recipients(kind: str, payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, address)`` of every recipient an email payload names (``to``, each ``cc`` and
    ``bcc``), in payload order; none for other kinds."""
    if MESSAGE_KIND_CHANNEL.get(kind) != Channel.EMAIL:
        return []
    found: list[tuple[str, str]] = []
    for name in EMAIL_RECIPIENT_FIELDS:
        value = payload.get(name)
        if isinstance(value, str) and value.strip():
            found.append((f"payload.{name}", value))
        elif isinstance(value, list | tuple):
            found += [
                (f"payload.{name}[{i}]", v) for i, v in enumerate(value) if isinstance(v, str) and v.strip()
            ]
    return found


def email_address_refusals(*, addresses: Iterable[str]) -> dict[str, str]:
    """Why each address may not be emailed now, by its normalised form (absent when it may): the
    address is under suppression, its latest email record (by its key, with or without a lead) is
    a withdrawal, or it is the address of a lead who opted out or withdrew email. The addresses are
    never stored or compared in clear: by their key and the leads' blind index. Three queries."""
    from sales.selectors import leads_with_emails

    keys = {normalise_email(a): email_key(a) for a in addresses if normalise_email(a)}
    if not keys:
        return {}
    latest: dict[str, dict[str, str]] = defaultdict(dict)
    for key, channel, status in (
        ConsentRecord.objects.filter(email_key__in=set(keys.values()))
        .order_by("recorded_at", "id")
        .values_list("email_key", "channel", "status")
    ):
        latest[key][channel] = status
    every = {c.value for c in Channel}
    refusals: dict[str, str] = {}
    for address, key in keys.items():
        by_channel = latest.get(key, {})
        if set(by_channel) == every and all(s == ConsentStatus.WITHDRAWN for s in by_channel.values()):
            refusals[address] = SUPPRESSED
        elif by_channel.get(Channel.EMAIL) == ConsentStatus.WITHDRAWN:
            refusals[address] = "the address withdrew consent to email"
    leads = list(leads_with_emails(emails=[a for a in keys if a not in refusals]))
    states = consent_states(leads=leads)
    for lead in leads:
        address = normalise_email(lead.email)
        if address in refusals or address not in keys:
            continue
        state = consent_for(lead, Channel.EMAIL, states.get(lead.pk, {}))
        if state == ConsentState.OPTED_OUT:
            refusals[address] = f"the address is lead #{lead.pk}'s, who opted out"
        elif state == WITHDRAWN:
            refusals[address] = f"the address is lead #{lead.pk}'s, who withdrew consent to email"
    return refusals


def message_vetoes(action: Any) -> list[Refusal]:
    """Consent as a veto (``approvals.executors.Veto``): read when a message is proposed, and again
    at execution time, not when the message was approved."""
    return message_refusals(lead=action.lead, kind=action.kind, payload=action.payload)


def message_refusals(
    *, lead: Lead | None = None, lead_id: int | None = None, kind: str, payload: Mapping[str, Any]
) -> list[Refusal]:
    """Every reason a message of ``kind`` must not go out now (none when it may), read when it is
    proposed and again at execution time: a lead (given, or by ``lead_id``) that opted out or
    withdrew consent to the message's channel, and for an email each recipient (``to``, ``cc``,
    ``bcc``) checked by address, with a lead or without one. Other kinds: none, and no query."""
    channel = MESSAGE_KIND_CHANNEL.get(kind)
    if channel is None:
        return []
    if lead is None and lead_id is not None:
        lead = Lead.objects.filter(pk=lead_id).first()
    refusals: list[Refusal] = []
    if lead is not None:
        state = consent_for(lead, channel, consent_states(leads=[lead]).get(lead.pk, {}))
        if state == ConsentState.OPTED_OUT:
            refusals.append(Refusal("lead", "the contact opted out"))
        elif state == WITHDRAWN:
            refusals.append(Refusal("lead", f"the contact withdrew consent to {channel}"))
    recipients = message_recipients(kind, payload)
    if recipients:
        by_address = email_address_refusals(addresses=[a for _, a in recipients])
        refusals += [
            Refusal(name, by_address[normalise_email(address)])
            for name, address in recipients
            if normalise_email(address) in by_address
        ]
    return refusals


def message_refusal(*, lead: Lead | None, kind: str, to: str = "") -> str:
    """Why a message of ``kind`` to ``to`` must not go out now (empty when it may); the first of
    ``message_refusals`` for a payload of only ``to``."""
    refusals = message_refusals(lead=lead, kind=kind, payload={"to": to} if to else {})
    return refusals[0].reason if refusals else ""


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
