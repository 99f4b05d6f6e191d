"""The fields a lead row may carry in a bulk upsert or import, and their validation (pure)."""

from __future__ import annotations

from decimal import Decimal

from agentops import rowcheck as rc
from connectors.choices import SourceSystem
from sales.choices import ConsentState, LeadStatus, Outcome

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
