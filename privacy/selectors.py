"""Whether a message may go to each of its recipients, read from the consent registry (``consent``)
when it is proposed and again when it is sent: the outbox's consent veto (``PrivacyConfig``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from consent.choices import MESSAGE_KIND_CHANNEL, Channel, ConsentStatus
from consent.keys import email_key, normalise_email
from consent.models import ConsentRecord
from consent.selectors import consent_states
from sales.cadence import WITHDRAWN, consent_for
from sales.choices import ConsentState
from sales.models import Lead
from sales.selectors import leads_with_emails


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
