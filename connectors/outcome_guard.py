"""An agent cannot say a lead converted: a CRM write naming a field an outcome mapping reads is vetoed.

A lead's outcome (the lead model's label) comes only from the CRM's own records, through the
connection's outcome mapping (``connectors.outcomes``). An ``update_crm_fields`` proposal that sets
one of the fields a mapping reads (HubSpot's ``lifecyclestage``, a deal-value field, …) would let
the agent write the label it is later trained on, once a person approves a routine-looking field
update; so would our own label names. Registered as a veto (``approvals.executors``) in
``ConnectorsConfig.ready``: refused with 400 when proposed, and cancelled before it goes out if an
approver's edit added such a field.
"""

from __future__ import annotations

from typing import Any

from approvals.choices import ActionKind
from approvals.executors import Refusal
from connectors.models import OutcomeMapping

#: Our own names for the label, refused whatever the mappings say.
LABEL_FIELDS = frozenset({"outcome", "outcome_at"})


def outcome_field_refusals(action: Any) -> list[Refusal]:
    """Each field of an ``update_crm_fields`` payload that a lead's outcome is read from."""
    if action.kind != ActionKind.UPDATE_CRM_FIELDS:
        return []
    fields = (action.payload or {}).get("fields")
    if not isinstance(fields, dict) or not fields:
        return []
    guarded = dict.fromkeys(LABEL_FIELDS, "AgentOps's label")
    for mapping in OutcomeMapping.objects.select_related("connection"):
        for name in mapping.rules().fields():
            guarded.setdefault(name.casefold(), str(mapping))
    return [
        Refusal(
            f"payload.fields.{name}",
            f"a lead's outcome is read from it ({guarded[name.casefold()]}); only the CRM's own records "
            "may say that a lead converted or was lost",
        )
        for name in fields
        if name.casefold() in guarded
    ]
