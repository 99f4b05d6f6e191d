"""A lead's outcome and deal value as a CRM record states them, by a connection's outcome mapping.

Pure (no ORM): ``connectors.models.OutcomeMapping`` is the admin-edited data, handed here as
``OutcomeRules``; ``connectors.inbound`` applies what ``outcome_reading`` finds to the lead through
the CRM-sync upsert, the one producer allowed to set a lead's outcome.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from connectors.inbound_vendors import _datetime

CONVERTED = "converted"
LOST = "lost"

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class OutcomeRules:
    """Which CRM field and values mean converted or lost, when each happened, and which field holds
    the deal value. Values compare as text, case-blind (``true`` matches a JSON ``true``).
    An empty field name turns its rule off; an empty time field means the record's modification time."""

    converted_field: str = ""
    converted_values: tuple[str, ...] = ()
    converted_time_field: str = ""
    lost_field: str = ""
    lost_values: tuple[str, ...] = ()
    lost_time_field: str = ""
    deal_value_field: str = ""

    def fields(self) -> list[str]:
        """The CRM fields a read must carry for these rules (each once, in a stable order)."""
        names = (
            self.converted_field,
            self.converted_time_field,
            self.lost_field,
            self.lost_time_field,
            self.deal_value_field,
        )
        return list(dict.fromkeys(name for name in names if name))


@dataclass(frozen=True)
class OutcomeReading:
    """What a record says: ``outcome`` (``CONVERTED``, ``LOST`` or "" when it says nothing), its
    time, and the deal value as the CRM wrote it ("" when absent)."""

    outcome: str = ""
    at: datetime | None = None
    deal_value: str = ""


def _matches(payload: Mapping[str, Any], field: str, values: tuple[str, ...]) -> bool:
    if not field or field not in payload or payload[field] is None:
        return False
    given = str(payload[field]).strip().lower()
    return any(given == value.strip().lower() for value in values)


def outcome_writes(rules: OutcomeRules, fields: Mapping[str, Any]) -> list[str]:
    """The names in ``fields`` (a CRM write) that would make these rules read an outcome: the
    converted or lost field set to one of its values, a time field, or the deal-value field. Field
    names compare case-blind (Salesforce's are). Setting a mapped field to another value (HubSpot's
    lifecycle stage to ``salesqualifiedlead``) is ordinary CRM work and not listed."""
    by_name = {name.casefold(): name for name in fields}
    found: list[str] = []
    for field, values in (
        (rules.converted_field, rules.converted_values),
        (rules.lost_field, rules.lost_values),
    ):
        name = by_name.get(field.casefold()) if field else None
        if name is not None and _matches({field: fields[name]}, field, values):
            found.append(name)
    for field in (rules.converted_time_field, rules.lost_time_field, rules.deal_value_field):
        name = by_name.get(field.casefold()) if field else None
        if name is not None:
            found.append(name)
    return list(dict.fromkeys(found))


def outcome_time(value: Any, modified_at: datetime | None) -> datetime | None:
    """The moment a time field names, in UTC. A date without a time (Salesforce's ``ConvertedDate``)
    is the record's modification time when that fell on the same day (the conversion is what changed
    it), else the start of that day in UTC. Absent or unreadable: the modification time."""
    if value in (None, ""):
        return modified_at
    text = str(value).strip()
    if _DATE_ONLY.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return modified_at
        if modified_at is not None and modified_at.astimezone(UTC).date() == day:
            return modified_at
        return datetime.combine(day, time.min, tzinfo=UTC)
    return _datetime(value) or modified_at


def outcome_reading(
    rules: OutcomeRules, payload: Mapping[str, Any], *, modified_at: datetime | None
) -> OutcomeReading:
    """The outcome, its time and the deal value that ``payload`` (a CRM record) states under ``rules``.
    Converted is read first: a record matching both rules is converted."""
    raw_amount = payload.get(rules.deal_value_field) if rules.deal_value_field else None
    amount = "" if raw_amount is None else str(raw_amount).strip()
    if _matches(payload, rules.converted_field, rules.converted_values):
        at = outcome_time(payload.get(rules.converted_time_field), modified_at)
        return OutcomeReading(CONVERTED, at, amount)
    if _matches(payload, rules.lost_field, rules.lost_values):
        at = outcome_time(payload.get(rules.lost_time_field), modified_at)
        return OutcomeReading(LOST, at, amount)
    return OutcomeReading("", None, amount)
