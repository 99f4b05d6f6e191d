"""Writes of the consent registry: the records only. What a change does to queued work (ending
cadences, cancelling unsent messages) is the caller's, in the same transaction
(``sales.cadence_services.lead_opt_out``, ``privacy.services.consent_withdraw``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone

from consent.choices import Channel, ConsentStatus, LawfulBasis
from consent.keys import email_key
from consent.models import ConsentRecord

ALL_CHANNELS: tuple[str, ...] = tuple(c.value for c in Channel)


def consent_withdrawals_add(
    *,
    lead: Any | None,
    email: str = "",
    channels: Sequence[str] = ALL_CHANNELS,
    source: str,
    actor: str,
    lawful_basis: str = LawfulBasis.CONSENT,
    note: str = "",
    now: datetime | None = None,
) -> list[ConsentRecord]:
    """Write the proof of a withdrawal: one record per channel, naming the person by the lead and by
    the key of its address (or of ``email`` without a lead). Only the records: call it inside the
    transaction of the change it proves (``privacy.services.consent_withdraw``,
    ``sales.cadence_services.lead_opt_out``)."""
    key = email_key(lead.email if lead is not None else email)
    now = now or timezone.now()
    return [
        ConsentRecord.objects.create(
            lead=lead,
            email_key=key,
            channel=channel,
            status=ConsentStatus.WITHDRAWN,
            lawful_basis=lawful_basis,
            source=source[:60],
            recorded_at=now,
            recorded_by=actor[:100],
            note=note[:300],
        )
        for channel in dict.fromkeys(channels)
    ]
