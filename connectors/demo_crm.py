"""The demo's CRM: what the demo leads did reaches them the way a real CRM's records do.

``seed_demo`` has no CRM to read, yet the facts the product acts on (replies, opens, meetings,
bounces, opt-outs, won and lost deals, a lead's account and an account's value) must come from
their real producer. So the demo data's engagement is written as the records HubSpot would hold
(``demo_crm_records``: companies, contacts, emails, meetings and deals in the shapes the HubSpot
connector reads, with their associations) and applied by ``demo_crm_sync`` exactly as the
incremental sync applies a page it read: each record becomes an event (``record_event``), stored by
``inbound_events_store`` and applied by ``inbound_process_pending``. So the same code writes the lead
events (``connectors.engagement``: ``sync:hubspot`` in their decision-log entries, by the connection's
actor), the outcomes with the deals' close dates (the outcome mapping, through the CRM-sync upsert),
the opt-outs (``lead_opt_out``), the accounts' values and the leads' account links.

The connection (``DEMO_CONNECTION``, vendor ``hubspot``) is inactive: nothing is ever sent to it, it
takes no webhook, and the periodic sync passes it by. No server is started: the records are in hand,
as the sync has them after reading a page. Pure mapping apart from ``demo_crm_sync``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.base import Record

#: The demo CRM connection's name (its actor in the decision log is ``connector:<name>``).
DEMO_CONNECTION = "Demo CRM (HubSpot)"
VENDOR = "hubspot"

#: HubSpot's default deal pipeline stages for the demo deals.
DEAL_STAGES = {"open": "qualifiedtobuy", "won": "closedwon", "lost": "closedlost"}


def _at(moment: datetime) -> str:
    """A time as HubSpot's API writes it."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class DemoCrm:
    """The demo data a CRM would hold (``sales.demo_data.DemoData``'s fields, as plain data)."""

    accounts: Sequence[Mapping[str, Any]]
    leads: Sequence[Mapping[str, Any]]
    lead_accounts: Mapping[str, str]
    events: Sequence[Mapping[str, Any]]
    deals: Sequence[Mapping[str, Any]]
    opt_outs: Mapping[str, datetime]


def demo_crm_records(crm: DemoCrm, *, now: datetime) -> list[Record]:
    """The HubSpot records of the demo data, companies and contacts first (their order in a sync)."""
    records: list[Record] = []
    for account in crm.accounts:
        # The company's value (HubSpot's calculated closed-won revenue) is the CRM's, not the import's.
        records.append(
            Record(
                "account",
                account["external_id"],
                {"name": account["name"], "total_revenue": str(account.get("account_value") or 0)},
                now,
            )
        )
    for lead in crm.leads:
        contact = lead["hubspot_id"]
        modified = datetime.fromisoformat(lead["source_modified_at"])
        fields: dict[str, Any] = {"associatedcompanyid": crm.lead_accounts[lead["external_id"]]}
        opted_out = crm.opt_outs.get(lead["external_id"])
        if opted_out is not None:
            fields["hs_email_optout"] = "true"
            # A change after the import's, so importing the lead again never takes the opt-out back.
            modified = max(modified + timedelta(minutes=1), opted_out)
        records.append(Record("lead", contact, fields, modified))
    contacts = {lead["external_id"]: lead["hubspot_id"] for lead in crm.leads}
    for event in crm.events:
        records.append(_engagement(event, contacts[event["lead_external_id"]]))
    for deal in crm.deals:
        records.append(_deal(deal, contacts[deal["lead_external_id"]]))
    return records


def _engagement(event: Mapping[str, Any], contact: str) -> Record:
    at: datetime = event["occurred_at"]
    people = {"associatedContactIds": [contact]}
    kind = event["kind"]
    if kind == "meeting_booked":
        fields = {"hs_createdate": _at(at), "hs_meeting_start_time": _at(at + timedelta(days=2)), **people}
        return Record("meeting", event["external_id"], {**fields, "hs_meeting_outcome": "SCHEDULED"}, at)
    if kind == "email_reply":
        fields = {"hs_email_direction": "INCOMING_EMAIL", "hs_timestamp": _at(at), **people}
        return Record("email", event["external_id"], fields, at)
    # One of our emails, sent an hour before what the prospect did with it (its record's change).
    sent = {"hs_email_direction": "EMAIL", "hs_timestamp": _at(at - timedelta(hours=1)), **people}
    if kind == "email_bounce":
        return Record("email", event["external_id"], {**sent, "hs_email_status": "BOUNCED"}, at)
    counts = {"email_open": "hs_email_open_count", "email_click": "hs_email_click_count"}
    if kind not in counts:
        raise ValueError(f"kind: {kind!r} is not something the demo CRM records")
    return Record("email", event["external_id"], {**sent, "hs_email_status": "SENT", counts[kind]: "1"}, at)


def _deal(deal: Mapping[str, Any], contact: str) -> Record:
    stage = deal["stage"]
    closed: datetime | None = deal["closed_at"]
    fields: dict[str, Any] = {
        "dealname": f"Demo deal {deal['external_id']}",
        "dealstage": DEAL_STAGES[stage],
        "createdate": _at(deal["created_at"]),
        "hs_is_closed_won": str(stage == "won").lower(),
        "hs_is_closed_lost": str(stage == "lost").lower(),
        "associatedContactIds": [contact],
    }
    if deal.get("amount") is not None:
        fields["amount"] = str(deal["amount"])
    if closed is not None:
        fields["closedate"] = _at(closed)
    return Record("deal", deal["external_id"], fields, closed or deal["created_at"])


def demo_crm_sync(*, crm: DemoCrm, now: datetime) -> Any:
    """Apply the demo CRM's records as the incremental sync applies what it read (see the module
    docstring); the ``ProcessSummary`` of what became of them. Safe to repeat: records already
    applied are stored once and change nothing."""
    from connectors.inbound import inbound_events_store, inbound_process_pending
    from connectors.inbound_vendors import INBOUND
    from connectors.models import Connection, InboundChannel

    connection, _ = Connection.objects.get_or_create(
        name=DEMO_CONNECTION,
        defaults={
            "vendor": VENDOR,
            "base_url": "https://api.hubapi.com",
            "is_active": False,  # never called, never synced: its records are the seed's
            "options": {"demo": True},
        },
    )
    inbound = INBOUND[connection.vendor]
    events = [inbound.record_event(record) for record in demo_crm_records(crm, now=now)]
    inbound_events_store(connection=connection, events=events, channel=InboundChannel.SYNC, notify=False)
    return inbound_process_pending(connection_id=connection.pk)
