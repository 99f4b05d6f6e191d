"""Blanking a person's values in place, and in the admin history of the rows (django-simple-history
copies every field into its historical table, so a scrub that left those rows would leave the
person there). Writes go through the ORM only, ``save()`` for the rows that hold encrypted fields, so
any field-level encryption and blind index stay consistent."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import models

from audit.redaction import PERSONAL_KEYS

ERASED = "[erased]"
#: Payload keys whose whole value is about the person (recipient, message text).
PERSONAL_PAYLOAD_KEYS = PERSONAL_KEYS | {"to", "cc", "subject", "body", "description", "comment", "requester"}

LEAD_BLANK: dict[str, Any] = {
    "first_name": "",
    "last_name": "",
    "email": "",
    "phone": "",
    "title": "",
    "attributes": {},
}
TICKET_BLANK: dict[str, Any] = {
    "subject": ERASED,
    "body": "",
    "requester_name": "",
    "requester_email": "",
    "attributes": {},
}


def needles_for(values: Iterable[str]) -> list[str]:
    """The identifying strings to look for (names, address, phone), longest first, without ones
    too short to mean anything."""
    return sorted({v.strip() for v in values if v and len(v.strip()) >= 3}, key=len, reverse=True)


def scrub_text(text: str, needles: Sequence[str]) -> str:
    """``text`` with every occurrence of the needles (case-insensitive) replaced by ``[erased]``."""
    if not text or not needles:
        return text
    pattern = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)
    return pattern.sub(ERASED, text)


def scrub_json(value: Any, needles: Sequence[str], key: str | None = None) -> Any:
    """A copy of ``value`` with personal keys' values erased and needles replaced in every string."""
    if isinstance(value, Mapping):
        return {k: scrub_json(v, needles, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_json(v, needles, key) for v in value]
    if key is not None and key.lower() in PERSONAL_PAYLOAD_KEYS and value not in (None, ""):
        return ERASED
    if isinstance(value, str):
        return scrub_text(value, needles)
    return value


def history_model(model: type[models.Model]) -> type[models.Model] | None:
    """The historical model django-simple-history keeps for ``model``, if it keeps one."""
    attribute = getattr(model._meta, "simple_history_manager_attribute", None)
    if not attribute:
        return None
    manager = getattr(model, attribute, None)
    return getattr(manager, "model", None)


def history_scrub(model: type[models.Model], ids: Sequence[int], values: Mapping[str, Any]) -> int:
    """Give the history rows of these records the same blanked values; returns rows changed."""
    historical = history_model(model)
    if historical is None or not ids:
        return 0
    changed = 0
    for row in historical._default_manager.filter(id__in=list(ids)):
        for name, value in values.items():
            setattr(row, name, value)
        row.save()
        changed += 1
    return changed


def history_forget(model: type[models.Model], ids: Sequence[int]) -> int:
    """Delete the history rows of records that were deleted (their last copy would remain there)."""
    historical = history_model(model)
    if historical is None or not ids:
        return 0
    deleted, _ = historical._default_manager.filter(id__in=list(ids)).delete()
    return deleted


def lead_is_blank_q() -> models.Q:
    return models.Q(first_name="", last_name="", email="", phone="")


def ticket_is_blank_q() -> models.Q:
    return models.Q(requester_name="", requester_email="", body="")
