"""The fields a ticket row may carry in a bulk upsert or import, and their validation (pure)."""

from __future__ import annotations

from core import rowcheck as rc
from sales.choices import SourceSystem
from support.choices import TicketChannel, TicketPriority, TicketStatus

TICKET_FIELDS: dict[str, rc.Parser] = {
    "source": rc.choice(SourceSystem.values),
    "external_id": rc.text(100, required=True),
    "subject": rc.text(300),
    "body": rc.text(20_000, required=True),
    "requester_name": rc.text(200),
    "requester_email": rc.email,
    "status": rc.choice(TicketStatus.values),
    "priority": rc.choice(TicketPriority.values),
    "channel": rc.choice(TicketChannel.values),
    "assigned_group": rc.text(100),
    "intent_label": rc.text(80),
    "attributes": rc.json_object,
    "source_created_at": rc.aware_datetime,
    "source_modified_at": rc.aware_datetime,
}

WRITABLE_FIELDS = tuple(name for name in TICKET_FIELDS if name not in ("source", "external_id"))
