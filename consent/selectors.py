"""Reads of the consent registry: the latest status per person and channel, in bulk.

A person is named by a lead and by the key of an email address (``consent.keys``): a record for
the address applies to every lead with it, now or imported later. What a lead's own consent state
adds (an opt-out of everything) is read with ``sales.cadence.consent_for``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import Q, QuerySet

from consent.choices import Channel, ConsentStatus
from consent.keys import email_key
from consent.models import ConsentRecord


def consent_states(*, leads: Sequence[Any]) -> dict[int, dict[str, str]]:
    """The latest recorded status per channel of each lead (anything with ``pk`` and ``email``),
    matched by the lead or by its email key (a suppression recorded for the address applies to
    every lead with it). One query."""
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


def consent_history(*, lead: Any) -> QuerySet[ConsentRecord]:
    """Every consent record about the lead (by the lead or its address), newest first."""
    key = email_key(lead.email)
    match = Q(lead=lead) | Q(email_key=key) if key else Q(lead=lead)
    return ConsentRecord.objects.filter(match).order_by("-recorded_at", "-id")
