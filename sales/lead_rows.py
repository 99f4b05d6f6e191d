"""The fields a lead row may carry in a bulk upsert or import, and their validation (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from core import rowcheck as rc
from sales.choices import ConsentState, LeadProducer, LeadStatus, Outcome, SourceSystem

KEY_FIELDS = ("source", "external_id")

LEAD_FIELDS: dict[str, rc.Parser] = {
    "source": rc.choice(SourceSystem.values),
    "external_id": rc.text(100, required=True),
    "salesforce_id": rc.optional_text(18),
    "hubspot_id": rc.optional_text(32),
    "first_name": rc.text(100),
    "last_name": rc.text(100),
    "email": rc.email,
    "phone": rc.text(40),
    "title": rc.text(150),
    "company_name": rc.text(200),
    "country": rc.country_code,
    "timezone": rc.time_zone,
    "status": rc.choice(LeadStatus.values),
    "consent_state": rc.choice(ConsentState.values),
    "has_open_opportunity": rc.boolean,
    "deal_value": rc.decimal(min_value=Decimal(0)),
    "outcome": rc.choice(Outcome.values),
    "outcome_at": rc.aware_datetime,
    "attributes": rc.json_object,
    "source_modified_at": rc.aware_datetime,
    "owner": rc.text(150),
}

# Fields the upsert writes (everything but the natural key; owner is resolved to owner_id).
WRITABLE_FIELDS = tuple(
    name if name != "owner" else "owner_id" for name in LEAD_FIELDS if name not in KEY_FIELDS
)

#: Fields oversight decides on (the approval policy's deal value and ownership change, the owner's
#: team scope, the approver's view of the record, the training label) and why a batch from the
#: bulk API may not set them: each has one producer, and it is never the agent being overseen.
SET_BY_CRM_SYNC = "set by the CRM sync"
SET_BY_CONSENT_API = "set through the consent API with evidence"
OVERSIGHT_FIELDS: dict[str, str] = {
    "owner": SET_BY_CRM_SYNC,
    "deal_value": SET_BY_CRM_SYNC,
    "has_open_opportunity": SET_BY_CRM_SYNC,
    "outcome": SET_BY_CRM_SYNC,
    "outcome_at": SET_BY_CRM_SYNC,
    "consent_state": SET_BY_CONSENT_API,
}
#: The same fields as the upsert writes them (owner is resolved to owner_id).
OVERSIGHT_COLUMNS = tuple(name if name != "owner" else "owner_id" for name in OVERSIGHT_FIELDS)

#: How restrictive each consent state is: an upsert may lower a lead's consent, never raise it.
CONSENT_RESTRICTIVENESS: dict[str, int] = {
    ConsentState.GRANTED: 0,
    ConsentState.UNKNOWN: 1,
    ConsentState.OPTED_OUT: 2,
}


def producer_refusals(row: object, producer: str) -> list[tuple[str, str]]:
    """``(field, reason)`` for each field of a raw ``row`` that ``producer`` may not set."""
    if producer != LeadProducer.API or not isinstance(row, Mapping):
        return []
    return [(name, reason) for name, reason in OVERSIGHT_FIELDS.items() if name in row]


def consent_raise_refusal(current: str, incoming: str) -> str:
    """Why an upsert may not move a stored lead's consent from ``current`` to ``incoming`` (empty
    when it may): lifting an opt-out, or granting, is the consent API's, with evidence."""
    if CONSENT_RESTRICTIVENESS.get(incoming, 0) >= CONSENT_RESTRICTIVENESS.get(current, 0):
        return ""
    if current == ConsentState.OPTED_OUT:
        return (
            "the lead opted out; an opt-out is lifted only through the consent API with evidence, "
            f"never by an upsert (sent {incoming!r})"
        )
    return f"consent is granted only through the consent API with evidence, never by an upsert (sent {incoming!r})"
