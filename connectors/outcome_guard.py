"""An agent cannot say a lead converted: a CRM write naming a field an outcome mapping reads is vetoed.

A lead's outcome (the lead model's label) comes only from the CRM's own records, through the
connection's outcome mapping (``connectors.outcomes``). An ``update_crm_fields`` proposal that would
make a mapping read an outcome (HubSpot's ``lifecyclestage`` set to ``customer``, a deal-value
field, a conversion time) would let the agent write the label it is later trained on, and a policy
fact, once a person approves a routine-looking field update; so would our own label names. Registered as a veto (``approvals.executors``) in
``ConnectorsConfig.ready``: refused with 400 when proposed, and cancelled before it goes out if an
approver's edit added such a field.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from approvals.choices import ActionKind
from approvals.executors import Refusal
from connectors.models import OutcomeMapping
from connectors.outcomes import OutcomeRules, outcome_writes

#: Our own names for the label, refused whatever the mappings say.
LABEL_FIELDS = frozenset({"outcome", "outcome_at"})
#: How long a process keeps the guarded fields: the outbox asks for every action of a batch, and
#: mappings change rarely. A save in this process forgets them at once (``guarded_fields_forget``).
GUARD_SECONDS = 30.0

_cache: dict[str, tuple[float, list[tuple[str, OutcomeRules]]]] = {}
_lock = threading.Lock()


def _mappings() -> list[tuple[str, OutcomeRules]]:
    """Every outcome mapping's name and rules, kept for ``GUARD_SECONDS``."""
    with _lock:
        held = _cache.get("mappings")
        if held is not None and time.monotonic() - held[0] < GUARD_SECONDS:
            return held[1]
    mappings = [(str(m), m.rules()) for m in OutcomeMapping.objects.select_related("connection")]
    with _lock:
        _cache["mappings"] = (time.monotonic(), mappings)
    return mappings


def guarded_fields_forget(**_: Any) -> None:
    """Read the mappings afresh next time (connected to OutcomeMapping's saves and deletes)."""
    with _lock:
        _cache.clear()


def outcome_field_refusals(action: Any) -> list[Refusal]:
    """Each field of an ``update_crm_fields`` payload that would say a lead's outcome, its time or
    its deal value under some mapping (``connectors.outcomes.outcome_writes``), and our own label's
    names."""
    if action.kind != ActionKind.UPDATE_CRM_FIELDS:
        return []
    fields = (action.payload or {}).get("fields")
    if not isinstance(fields, dict) or not fields:
        return []
    why = {name: "AgentOps's label" for name in fields if name.casefold() in LABEL_FIELDS}
    for mapping, rules in _mappings():
        for name in outcome_writes(rules, fields):
            why.setdefault(name, mapping)
    return [
        Refusal(
            f"payload.fields.{name}",
            f"it would say the lead's outcome or deal value ({why[name]}); only the CRM's own records "
            "may say that a lead converted or was lost, and what the deal is worth",
        )
        for name in fields
        if name in why
    ]
