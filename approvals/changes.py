"""What a proposal would change on its record, field by field. Pure (no ORM).

The approval page compares the payload with the record as it is now: a payload field that names a
field of the record (directly, through an alias, or inside an ``update_crm_fields`` map) is shown as
"current → proposed"; anything else (a cadence, a message) is shown as "will set".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from security.masking import mask_mapping

# Payload field names that mean a differently named record field.
RECORD_ALIASES = {"group": "assigned_group", "owner": "owner", "ticket_status": "status"}
# Payload fields holding a map of record fields to new values (``update_crm_fields``).
FIELD_MAPS = frozenset({"fields"})

CHANGE = "change"
SAME = "same"
SET = "set"


@dataclass(frozen=True)
class FieldChange:
    """One payload field against the record: ``kind`` is "change", "same" or "set" (no comparable field)."""

    field: str
    current: Any
    proposed: Any
    kind: str
    record_field: str = ""


def payload_rows(payload: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The payload as (field, value) rows for a table, maps of record fields flattened to ``fields.name``."""
    rows: list[tuple[str, Any]] = []
    for key, value in payload.items():
        if key in FIELD_MAPS and isinstance(value, Mapping):
            rows.extend((f"{key}.{name}", inner) for name, inner in value.items())
        else:
            rows.append((key, value))
    return rows


def proposed_changes(*, record: Mapping[str, Any], payload: Mapping[str, Any]) -> list[FieldChange]:
    """Each payload field against the record's current value where the record has such a field."""
    changes: list[FieldChange] = []
    for path, proposed in payload_rows(payload):
        name = path.split(".", 1)[1] if "." in path and path.split(".", 1)[0] in FIELD_MAPS else path
        record_field = RECORD_ALIASES.get(name, name)
        if record_field not in record:
            changes.append(FieldChange(path, None, proposed, SET))
            continue
        current = record[record_field]
        kind = SAME if _same(current, proposed) else CHANGE
        changes.append(FieldChange(path, current, proposed, kind, record_field))
    return changes


def edit_changes(*, original: Mapping[str, Any], edited: Mapping[str, Any]) -> list[FieldChange]:
    """The fields an approver changed, original → edited, in the payload's order."""
    return [
        FieldChange(key, original.get(key), edited.get(key), CHANGE)
        for key in [*original, *(k for k in edited if k not in original)]
        if original.get(key) != edited.get(key)
    ]


def _same(current: Any, proposed: Any) -> bool:
    if current == proposed:
        return True
    # Record values come from typed columns (decimals, dates); payloads are JSON. Compare as text.
    return current is not None and proposed is not None and str(current) == str(proposed)


def payload_diff_masked(diff: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """A payload diff (field → {"from", "to"}) with the values of personal fields masked, for
    people who may not see personal data (``security.masking``)."""
    return {
        key: {side: mask_mapping({key: change.get(side)})[key] for side in ("from", "to")}
        for key, change in diff.items()
    }
