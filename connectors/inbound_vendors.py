"""Each vendor's inbound side, as plain functions: check a webhook delivery, split it into events,
and say which of our fields a vendor record sets. No ORM here (``connectors.inbound`` stores and
applies); a vendor registers one ``VendorInbound`` in ``INBOUND``, so callers never branch on vendor.

Signature schemes (``connectors.signatures``): HubSpot v3 (method + URI + body + timestamp, five
minutes), Zendesk (timestamp + body, five minutes), Intercom (``X-Hub-Signature``, no timestamp:
a replay is caught by its event id), Salesforce outbound messages (organisation id in the SOAP body
and a shared secret in the endpoint URL's ``secret`` parameter).
"""

from __future__ import annotations

import abc
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from xml.etree import ElementTree
from xml.parsers import expat

from connectors import signatures
from connectors.base import Record
from support.helpdesk_events import ZENDESK_SATISFACTION


class WebhookRefused(Exception):
    """A delivery we do not accept; ``reason`` is for our log only, never for the caller."""

    def __init__(self, reason: str, *, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class IncomingRequest:
    """A webhook delivery as the vendor sent it (``uri``: the full public URL it called, not the one a
    proxy in front of us forwarded to)."""

    method: str
    uri: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class ParsedEvent:
    """One change a vendor reported: ``entity_kind`` is ours ("" when we keep nothing of it);
    ``payload`` the record in the vendor's shape, empty when the vendor only names what changed."""

    event_id: str
    topic: str
    entity_kind: str
    entity_id: str
    modified_at: datetime | None
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """What the event says changed, and to what; the same id arriving with another fingerprint is
        refused. Delivery details a vendor changes on a retry (attempt numbers) are not part of it."""
        stamp = self.modified_at.isoformat() if self.modified_at else ""
        record = json.dumps(self.payload, sort_keys=True, default=str)
        text = f"{self.topic}|{self.entity_kind}|{self.entity_id}|{stamp}|{record}"
        return hashlib.sha256(text.encode()).hexdigest()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise WebhookRefused("body is not JSON", status=400) from None
    except RecursionError:
        raise WebhookRefused("body is JSON nested too deeply", status=400) from None


def _jsonable(fields: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(dict(fields), default=str)))


def _datetime(value: Any) -> datetime | None:
    """A vendor timestamp (ISO 8601, ``+0000`` offsets, Unix seconds or milliseconds) in UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int | float) or str(value).isdigit():
        number = float(value)
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", str(value).replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _check_window(moment: datetime | None, now: float) -> None:
    """Refuse a timestamp outside the window before the signature check, so our log tells a stale
    or replayed request from a forged one (the caller gets the same 401 either way)."""
    if moment is not None and abs(now - moment.timestamp()) > signatures.TIMESTAMP_WINDOW_SECONDS:
        raise WebhookRefused("timestamp outside the window")


class VendorInbound(abc.ABC):
    """A vendor's webhooks and record shapes. ``kinds`` maps our record kinds to the field mapper."""

    vendor: ClassVar[str]
    #: Our kinds this vendor's records become (what ``sync`` reads and ``inbound`` applies).
    kinds: ClassVar[tuple[str, ...]] = ()
    #: Engagement and deal kinds whose records become lead events (``connectors.engagement``).
    signal_kinds: ClassVar[tuple[str, ...]] = ()
    #: Our ``Lead`` column holding this vendor's id, if any (``salesforce_id`` …).
    lead_id_column: ClassVar[str | None] = None
    #: Some events carry no record (all of HubSpot's, Zendesk's satisfaction trigger): ``inbound``
    #: reads the record of an event with an empty payload from the vendor before applying it.
    needs_read: ClassVar[bool] = False

    @abc.abstractmethod
    def accept(
        self, request: IncomingRequest, *, secret: str, options: Mapping[str, Any], now: float
    ) -> list[ParsedEvent]:
        """The events of a delivery whose signature holds; ``WebhookRefused`` otherwise."""

    def acknowledge(self) -> tuple[bytes, str]:
        """The body and content type of our "received" answer."""
        return b"", "text/plain"

    def record_event(self, record: Record) -> ParsedEvent:
        """A record read by the incremental sync as an event of the same shape as a webhook's."""
        stamp = record.modified_at.isoformat() if record.modified_at else ""
        return ParsedEvent(
            event_id=f"sync:{record.kind}:{record.vendor_id}:{stamp}",
            topic="sync",
            entity_kind=record.kind,
            entity_id=record.vendor_id,
            modified_at=record.modified_at.astimezone(UTC) if record.modified_at else None,
            payload=_jsonable(record.fields),
        )

    @abc.abstractmethod
    def values(self, kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Our field values for a ``kind`` record in the vendor's shape (only the fields it has)."""


def _present(payload: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {ours: _text(payload[theirs]) for theirs, ours in names.items() if theirs in payload}


# Salesforce ---------------------------------------------------------------------------------------
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
SALESFORCE_ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
).encode()
SALESFORCE_LEAD_STATUS = {
    "Open - Not Contacted": "new",
    "Working - Contacted": "contacted",
    "Closed - Converted": "converted",
    "Closed - Not Converted": "disqualified",
}


def _refuse_dtd(*args: Any) -> None:
    raise WebhookRefused("XML with a document type declaration", status=400)


def _clark(name: str) -> str:
    """expat's ``uri}local`` as ElementTree's ``{uri}local``."""
    return "{" + name if "}" in name else name


def parse_xml(body: bytes) -> ElementTree.Element:
    """Parse untrusted XML with expat, refusing any DTD, so no entity can be declared or expanded
    (defusedxml's protection, without the dependency)."""
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = lambda tag, attrs: builder.start(
        _clark(tag), {_clark(k): v for k, v in attrs.items()}
    )
    parser.EndElementHandler = lambda tag: builder.end(_clark(tag))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(body, True)
        return builder.close()
    except (expat.ExpatError, AssertionError, IndexError):
        raise WebhookRefused("body is not XML", status=400) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class SalesforceInbound(VendorInbound):
    vendor = "salesforce"
    kinds = ("lead", "account", "contact")
    signal_kinds = ("email", "meeting", "call", "deal")
    lead_id_column = "salesforce_id"
    SOBJECT_KINDS: ClassVar[dict[str, str]] = {
        "Lead": "lead",
        # A Contact is not a lead of ours: its account links the leads with its email.
        "Account": "account",
        "Contact": "contact",
        "Task": "call",
        "Event": "meeting",
        "EmailMessage": "email",
        "Opportunity": "deal",
    }

    def accept(
        self, request: IncomingRequest, *, secret: str, options: Mapping[str, Any], now: float
    ) -> list[ParsedEvent]:
        root = parse_xml(request.body)
        notifications = root.find(f".//{{{OUTBOUND_NS}}}notifications")
        if notifications is None:
            raise WebhookRefused("no outbound notifications", status=400)
        org = _text(notifications.findtext(f"{{{OUTBOUND_NS}}}OrganizationId"))
        if not signatures.salesforce_verify_outbound(
            expected_organization_id=str(options.get("organization_id", "")),
            organization_id=org,
            shared_secret=secret,
            given_secret=request.query.get("secret", ""),
        ):
            raise WebhookRefused("organisation id or shared secret does not match")
        events = []
        for notification in notifications.findall(f"{{{OUTBOUND_NS}}}Notification"):
            sobject = notification.find(f"{{{OUTBOUND_NS}}}sObject")
            if sobject is None:
                continue
            fields = {_local(child.tag): child.text or "" for child in sobject}
            type_name = _local(sobject.get(XSI_TYPE, "")).rsplit(":", 1)[-1]
            events.append(
                ParsedEvent(
                    event_id=_text(notification.findtext(f"{{{OUTBOUND_NS}}}Id")),
                    topic=f"{type_name}.outbound",
                    entity_kind=self.SOBJECT_KINDS.get(type_name, ""),
                    entity_id=fields.get("Id", ""),
                    modified_at=_datetime(fields.get("SystemModstamp")),
                    payload=fields,
                )
            )
        if not events or not all(e.event_id and e.entity_id for e in events):
            raise WebhookRefused("a notification without an id", status=400)
        return events

    def acknowledge(self) -> tuple[bytes, str]:
        return SALESFORCE_ACK, "text/xml; charset=utf-8"

    def values(self, kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        names = {
            "FirstName": "first_name",
            "LastName": "last_name",
            "Email": "email",
            "Phone": "phone",
            "Title": "title",
            "Company": "company_name",
        }
        values = _present(payload, names)
        if payload.get("Status") in SALESFORCE_LEAD_STATUS:
            values["status"] = SALESFORCE_LEAD_STATUS[payload["Status"]]
        if "HasOptedOutOfEmail" in payload:
            values["consent_state"] = "opted_out" if _flag(payload["HasOptedOutOfEmail"]) else None
        extra = {
            "Industry": "industry",
            "LeadSource": "lead_source",
            "OwnerId": "salesforce_owner_id",
            # What a converted lead became: its calls, meetings and deals name these.
            "ConvertedContactId": "salesforce_contact_id",
            "ConvertedOpportunityId": "salesforce_opportunity_id",
        }
        attributes = {ours: payload[theirs] for theirs, ours in extra.items() if payload.get(theirs)}
        if attributes:
            values["attributes"] = attributes
        return {k: v for k, v in values.items() if v is not None}


# HubSpot ------------------------------------------------------------------------------------------
HUBSPOT_LEAD_STATUS = {
    "NEW": "new",
    "OPEN": "new",
    "IN_PROGRESS": "contacted",
    "ATTEMPTED_TO_CONTACT": "contacted",
    "CONNECTED": "contacted",
    "OPEN_DEAL": "qualified",
    "BAD_TIMING": "nurturing",
    "UNQUALIFIED": "disqualified",
}


class HubSpotInbound(VendorInbound):
    """HubSpot's events name the object and the one property that changed, so the record is read."""

    vendor = "hubspot"
    kinds = ("lead", "account")
    signal_kinds = ("email", "meeting", "deal")
    lead_id_column = "hubspot_id"
    needs_read = True
    SUBJECT_KINDS: ClassVar[dict[str, str]] = {"contact": "lead", "company": "account", "deal": "deal"}
    #: The generic subscriptions (``object.creation`` …) name the type by id: contacts, deals,
    #: emails and meetings.
    OBJECT_TYPE_KINDS: ClassVar[dict[str, str]] = {
        "0-1": "lead",
        "0-2": "account",
        "0-3": "deal",
        "0-49": "email",
        "0-47": "meeting",
    }

    def accept(
        self, request: IncomingRequest, *, secret: str, options: Mapping[str, Any], now: float
    ) -> list[ParsedEvent]:
        timestamp = request.headers.get(signatures.HUBSPOT_TIMESTAMP_HEADER, "")
        _check_window(_datetime(timestamp) if timestamp.isdigit() else None, now)
        if not signatures.hubspot_verify_v3(
            client_secret=secret,
            method=request.method,
            uri=request.uri,
            body=request.body,
            signature=request.headers.get(signatures.HUBSPOT_SIGNATURE_HEADER, ""),
            timestamp=timestamp,
            now=now,
        ):
            raise WebhookRefused("bad v3 signature")
        data = _json(request.body)
        if not isinstance(data, list) or not all(isinstance(e, dict) and "eventId" in e for e in data):
            raise WebhookRefused("not an array of events", status=400)
        return [
            ParsedEvent(
                event_id=str(e["eventId"]),
                topic=_text(e.get("subscriptionType")),
                entity_kind=self._kind(e, n),
                # An association change names the contact as fromObjectId: it is read again.
                entity_id=_text(e.get("fromObjectId") if _association_change(e) else e.get("objectId")),
                modified_at=_datetime(e.get("occurredAt")),
            )
            for n, e in enumerate(data)
        ]

    def _kind(self, event: Mapping[str, Any], n: int) -> str:
        subject = _text(event.get("subscriptionType")).split(".")[0]
        if subject != "object":
            return self.SUBJECT_KINDS.get(subject, "")
        if not _text(event.get("objectTypeId")):
            raise WebhookRefused(f"event {n}: objectTypeId missing from an object.* event", status=400)
        if not _text(event.get("objectId")):
            raise WebhookRefused(f"event {n}: objectId missing", status=400)
        return self.OBJECT_TYPE_KINDS.get(_text(event["objectTypeId"]), "")

    def values(self, kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        names = {
            "firstname": "first_name",
            "lastname": "last_name",
            "email": "email",
            "phone": "phone",
            "jobtitle": "title",
            "company": "company_name",
        }
        values: dict[str, Any] = _present(payload, names)
        if payload.get("hs_lead_status") in HUBSPOT_LEAD_STATUS:
            values["status"] = HUBSPOT_LEAD_STATUS[payload["hs_lead_status"]]
        if _flag(payload.get("hs_email_optout")):
            values["consent_state"] = "opted_out"
        extra = {"lifecyclestage": "lifecycle_stage", "hubspot_owner_id": "hubspot_owner_id"}
        attributes = {ours: payload[theirs] for theirs, ours in extra.items() if payload.get(theirs)}
        if attributes:
            values["attributes"] = attributes
        return values


def _association_change(event: Mapping[str, Any]) -> bool:
    """A HubSpot contact's association with a company, or a deal's with a contact, was added or
    removed (the record named by ``fromObjectId`` is read again)."""
    return event.get("subscriptionType") in ("contact.associationChange", "deal.associationChange")


# Zendesk ------------------------------------------------------------------------------------------
ZENDESK_STATUS = {"new": "new", "open": "open", "pending": "pending", "hold": "pending", "solved": "solved"}


def _ticket_status(value: Any, mapping: Mapping[str, str]) -> str:
    return mapping.get(_text(value), "closed" if _text(value) == "closed" else "open")


class ZendeskInbound(VendorInbound):
    """Zendesk's event subscriptions carry the ticket in ``detail``. A satisfaction rating has no
    event subscription: the admin's "Satisfaction is Changed" trigger notifies a webhook with the
    body docs/connectors-helpdesk.md gives (``type`` ``ZENDESK_SATISFACTION``, the ticket's id and time), and
    the ticket, with its ``satisfaction_rating``, is read from Zendesk before it is applied."""

    vendor = "zendesk"
    kinds = ("ticket",)
    needs_read = True

    def accept(
        self, request: IncomingRequest, *, secret: str, options: Mapping[str, Any], now: float
    ) -> list[ParsedEvent]:
        timestamp = request.headers.get(signatures.ZENDESK_TIMESTAMP_HEADER, "")
        _check_window(_datetime(timestamp), now)
        if not signatures.zendesk_verify(
            secret=secret,
            body=request.body,
            signature=request.headers.get(signatures.ZENDESK_SIGNATURE_HEADER, ""),
            timestamp=timestamp,
            now=now,
        ):
            raise WebhookRefused("bad signature")
        data = _json(request.body)
        if not isinstance(data, dict) or not data.get("id"):
            raise WebhookRefused("not an event", status=400)
        if data.get("type") == ZENDESK_SATISFACTION:
            ticket_id = _text(data.get("ticket_id"))
            if not ticket_id.isdigit():
                raise WebhookRefused("a satisfaction trigger without a ticket_id", status=400)
            # No time: the ticket read gives it, so a rating the same second as the last change
            # we hold is never taken for stale.
            return [
                ParsedEvent(
                    event_id=_text(data["id"]),
                    topic=ZENDESK_SATISFACTION,
                    entity_kind="ticket",
                    entity_id=ticket_id,
                    modified_at=None,
                )
            ]
        detail = _dict(data.get("detail"))
        is_ticket = _text(data.get("type")).startswith("zen:event-type:ticket.") and "id" in detail
        return [
            ParsedEvent(
                event_id=_text(data["id"]),
                topic=_text(data.get("type")),
                entity_kind="ticket" if is_ticket else "",
                entity_id=_text(detail.get("id")),
                modified_at=_datetime(detail.get("updated_at")),
                payload=detail if is_ticket else {},
            )
        ]

    def values(self, kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {
            "subject": _text(payload.get("subject"))[:300],
            "body": _text(payload.get("description")) or _text(payload.get("subject")) or "(no text)",
            "status": _ticket_status(payload.get("status"), ZENDESK_STATUS),
            "priority": _text(payload.get("priority")) or "normal",
            "assigned_group": _text(payload.get("group_id")),
            "source_created_at": _datetime(payload.get("created_at")),
        }
        channel = _dict(payload.get("via")).get("channel")
        if channel in ("email", "chat", "web", "api"):
            values["channel"] = channel
        return values


# Intercom -----------------------------------------------------------------------------------------
INTERCOM_STATUS = {"open": "open", "snoozed": "pending"}


class IntercomInbound(VendorInbound):
    vendor = "intercom"
    kinds = ("ticket",)

    def accept(
        self, request: IncomingRequest, *, secret: str, options: Mapping[str, Any], now: float
    ) -> list[ParsedEvent]:
        if not signatures.intercom_verify(
            client_secret=secret,
            body=request.body,
            signature=request.headers.get(signatures.INTERCOM_SIGNATURE_HEADER, ""),
        ):
            raise WebhookRefused("bad X-Hub-Signature")
        data = _json(request.body)
        if not isinstance(data, dict) or not data.get("id"):
            raise WebhookRefused("not a notification", status=400)
        item = _dict(_dict(data.get("data")).get("item"))
        topic = _text(data.get("topic"))
        is_ticket = topic.startswith("conversation.") and "id" in item
        item = item if is_ticket else {}
        return [
            ParsedEvent(
                event_id=_text(data["id"]),
                topic=topic,
                entity_kind="ticket" if is_ticket else "",
                entity_id=_text(item.get("id")),
                modified_at=_datetime(item.get("updated_at")),
                payload=item,
            )
        ]

    def values(self, kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        source = _dict(payload.get("source"))
        author = _dict(source.get("author"))
        body = re.sub(r"<[^>]+>", " ", _text(source.get("body"))).strip()
        values: dict[str, Any] = {
            "subject": _text(payload.get("title") or source.get("subject"))[:300],
            "body": body or "(no text)",
            "status": "new" if _untouched(payload) else _ticket_status(payload.get("state"), INTERCOM_STATUS),
            "priority": "high" if payload.get("priority") == "priority" else "normal",
            "assigned_group": _text(payload.get("team_assignee_id")),
            "channel": "chat",
            "source_created_at": _datetime(payload.get("created_at")),
        }
        if author.get("email"):
            values["requester_email"] = _text(author["email"])
        if author.get("name"):
            values["requester_name"] = _text(author["name"])[:200]
        return values


def _untouched(conversation: Mapping[str, Any]) -> bool:
    """An open conversation no teammate has answered, been assigned or taken: what Zendesk calls
    "new" (Intercom has no such state), so the support bot takes it like a new Zendesk ticket."""
    if conversation.get("state") != "open" or conversation.get("admin_assignee_id"):
        return False
    if conversation.get("team_assignee_id") or _dict(conversation.get("statistics")).get(
        "first_admin_reply_at"
    ):
        return False
    parts = _dict(conversation.get("conversation_parts")).get("conversation_parts") or []
    return not any(_dict(_dict(part).get("author")).get("type") in ("admin", "bot") for part in parts)


#: The inbound side of every vendor, by vendor name.
INBOUND: dict[str, VendorInbound] = {
    v.vendor: v for v in (SalesforceInbound(), HubSpotInbound(), ZendeskInbound(), IntercomInbound())
}
