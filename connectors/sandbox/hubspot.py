"""A HubSpot API emulator: the subset hubspot-api-client calls for our connector.

CRM objects (``contacts``, ``companies``, ``tasks``) under ``/crm/v3/objects/{type}``: read by id
(or by a unique property with ``idProperty``), create, update, batch upsert by ``idProperty``
(at most 100 inputs), and search (filters ANDed within a group, groups ORed; sorts; ``after``
paging, at most 200 per page and 10,000 per query, as HubSpot). Owners by id or user id, and
Sequences v4 enrolment (``/automation/v4/sequences/enrollments``).

As HubSpot does: properties are strings and unknown ones are refused; errors are
``{"status": "error", "message", "correlationId", "category"}``; every answer carries
``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`` (and the daily pair); a contact
reaching the ``customer`` lifecycle stage gets ``hs_lifecyclestage_customer_date``; over the limit
(default the Professional tier's 190 requests per rolling 10 seconds) it answers 429 with
``Retry-After``; an upsert is repeatable, a create sent twice creates two records; a contact in a
sequence cannot be enrolled again. Requests need ``Authorization: Bearer <access token>``.
Contact and company creations and property changes are sent as webhooks, a JSON array of
HubSpot's events signed with ``X-HubSpot-Signature-v3`` (the app's ``client_secret``). Contacts are
associated with companies through v4 (``PUT …/associations/default/companies/{id}``, ``DELETE``)
or by writing ``associatedcompanyid``: the first company (or the one written) is the primary one,
kept in ``associatedcompanyid``, and both sides get an ``associationChange`` event. Properties
HubSpot calculates (``total_revenue``) are refused in writes and set by ``calculate``; a portal's
custom properties are added to ``custom_properties``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors import signatures
from connectors.sandbox import register_emulator
from connectors.sandbox.server import (
    COMPARISONS,
    RateLimiter,
    RateLimitState,
    Request,
    Response,
    SandboxApp,
    SandboxError,
    route,
)

#: Properties we emulate per object type (custom ones included) and which are unique (upsert keys).
PROPERTIES: dict[str, set[str]] = {
    "contacts": {
        "email",
        "firstname",
        "lastname",
        "company",
        "phone",
        "jobtitle",
        "lifecyclestage",
        "hs_lifecyclestage_customer_date",
        "recent_deal_amount",
        "hs_lead_status",
        "hs_email_optout",
        "hubspot_owner_id",
        "agentops_external_id",
        "associatedcompanyid",
    },
    "companies": {
        "name",
        "domain",
        "industry",
        "numberofemployees",
        "annualrevenue",
        "country",
        "lifecyclestage",
        "total_revenue",
        "hubspot_owner_id",
        "agentops_external_id",
    },
    "tasks": {
        "hs_task_subject",
        "hs_task_body",
        "hs_task_status",
        "hs_task_priority",
        "hs_task_type",
        "hs_timestamp",
        "hubspot_owner_id",
        "agentops_marker",
    },
    # Engagements and deals (connectors.signals).
    "emails": {
        "hs_timestamp",
        "hs_email_direction",
        "hs_email_status",
        "hs_email_subject",
        "hs_email_text",
        "hs_email_open_count",
        "hs_email_click_count",
        "hubspot_owner_id",
    },
    "meetings": {
        "hs_timestamp",
        "hs_meeting_title",
        "hs_meeting_body",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
        "hs_meeting_outcome",
        "hubspot_owner_id",
    },
    "deals": {
        "dealname",
        "dealstage",
        "pipeline",
        "amount",
        "closedate",
        "hubspot_owner_id",
    },
}
#: Deal properties HubSpot calculates from the stage (read-only), with the default pipeline's
#: closed stages.
DEAL_CALCULATED = {"hs_is_closed", "hs_is_closed_won", "hs_is_closed_lost"}
CLOSED_DEAL_STAGES = {"closedwon": True, "closedlost": False}
#: Properties HubSpot calculates itself: a company's closed-won revenue (from its deals). Writing
#: them is refused (READ_ONLY_VALUE).
READ_ONLY_PROPERTIES = {"companies": {"total_revenue"}}
#: The association type ids of a contact's companies: the primary one, and any other (unlabelled).
CONTACT_TO_COMPANY_PRIMARY, CONTACT_TO_COMPANY = 1, 279
UNIQUE_PROPERTIES = {"contacts": {"email", "agentops_external_id"}, "companies": {"agentops_external_id"}}
REQUIRED_PROPERTIES = {"tasks": ("hs_timestamp",), "emails": ("hs_timestamp",), "meetings": ("hs_timestamp",)}
#: The modification-time property HubSpot keeps per type (contacts have their own name for it).
MODIFIED_PROPERTY = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "tasks": "hs_lastmodifieddate",
    "emails": "hs_lastmodifieddate",
    "meetings": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
CREATED_PROPERTY = {
    "contacts": "createdate",
    "companies": "createdate",
    "tasks": "hs_createdate",
    "emails": "hs_createdate",
    "meetings": "hs_createdate",
    "deals": "createdate",
}
DATE_PROPERTIES = {*MODIFIED_PROPERTY.values(), *CREATED_PROPERTY.values(), "hs_timestamp", "closedate"}
BATCH_LIMIT = 100
SEARCH_PAGE_LIMIT = 200
#: HubSpot-defined association type ids, per object type, to the type they point at.
ASSOCIATION_TYPES = {
    "tasks": {204: "contacts", 192: "companies"},
    "emails": {198: "contacts"},
    "meetings": {200: "contacts"},
    "deals": {3: "contacts", 5: "companies"},
}
#: Legacy webhook subscription subjects per object type (``contact.creation`` …).
WEBHOOK_SUBJECTS = {"contacts": "contact", "companies": "company", "deals": "deal"}
#: Object types notified by the generic subscriptions (``object.creation`` with ``objectTypeId``),
#: the only ones HubSpot offers for engagements.
GENERIC_WEBHOOK_TYPES = {"emails": "0-49", "meetings": "0-47"}


#: "Became a Customer Date": HubSpot stamps it when a contact's lifecycle stage becomes customer.
CUSTOMER_DATE = "hs_lifecyclestage_customer_date"


def hs_datetime(moment: datetime) -> str:
    """HubSpot's timestamp format: ``2024-05-01T12:00:00.123Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _with_stage_dates(
    object_type: str, stored: dict[str, Any], clean: dict[str, str], now: str
) -> dict[str, str]:
    """``clean`` plus what HubSpot sets itself when a contact first reaches the customer lifecycle
    stage: "Became a Customer Date" (``hs_lifecyclestage_customer_date``), unless given or held."""
    reaches_customer = clean.get("lifecyclestage") == "customer"
    dated = clean.get(CUSTOMER_DATE) or stored.get(CUSTOMER_DATE)
    if object_type == "contacts" and reaches_customer and not dated:
        return {**clean, CUSTOMER_DATE: now}
    if object_type == "deals" and "dealstage" in clean:
        # Calculated by HubSpot from the stage; a deal closed without a close date gets today's.
        won = CLOSED_DEAL_STAGES.get(clean["dealstage"])
        derived = {
            "hs_is_closed": str(won is not None).lower(),
            "hs_is_closed_won": str(won is True).lower(),
            "hs_is_closed_lost": str(won is False).lower(),
        }
        if won is not None and not (clean.get("closedate") or stored.get("closedate")):
            derived["closedate"] = now
        return {**clean, **derived}
    return clean


def _millis(value: str) -> float:
    """A HubSpot date property or filter value (epoch milliseconds or ISO 8601) as epoch millis."""
    if value.lstrip("-").isdigit():
        return float(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000


#: HubSpot's filter operators that we emulate.
_FILTERS: dict[str, Callable[[Any, Any], bool]] = {
    **{
        name: COMPARISONS[op]
        for name, op in (("EQ", "="), ("NEQ", "!="), ("GT", ">"), ("GTE", ">="), ("LT", "<"), ("LTE", "<="))
    },
    "HAS_PROPERTY": lambda a, b: a not in (None, ""),
    "NOT_HAS_PROPERTY": lambda a, b: a in (None, ""),
}


@register_emulator
class HubSpotSandbox(SandboxApp):
    """HubSpot's CRM, owners and sequences APIs as hubspot-api-client sees them."""

    name = "hubspot"
    default_port = 8802

    #: Professional tier: 190 requests per rolling 10 seconds; daily allowance for the headers.
    DEFAULT_LIMIT: ClassVar[tuple[int, float]] = (190, 10.0)
    DAILY_LIMIT: ClassVar[int] = 1_000_000

    PORTAL_ID: ClassVar[int] = 62515
    APP_ID: ClassVar[int] = 54321

    def __init__(self) -> None:
        self.access_tokens = {"sandbox-token"}
        #: The app's client secret: HubSpot signs webhooks with it.
        self.client_secret = "sandbox-client-secret"  # noqa: S105 - the sandbox's, known to tests
        #: HubSpot's search returns at most 10,000 results per query (lower it in tests).
        self.search_result_limit = 10_000
        #: The target URL the app gave HubSpot, when deliveries reach ``webhooks.url`` through a
        #: proxy (TLS termination): HubSpot signs the URL it was given, not the one behind the proxy.
        self.public_webhook_url: str | None = None
        #: The portal's custom properties per object type (``{"companies": {"plan"}}``), besides ours.
        self.custom_properties: dict[str, set[str]] = {}
        super().__init__()
        self.rate_limit = RateLimiter(*self.DEFAULT_LIMIT)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self._unique: dict[tuple[str, str, str], str] = {}

    # Vendor shapes ------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, code: str) -> Any:
        return {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": code or "UNKNOWN",
        }

    def rate_limit_headers(self, state: RateLimitState) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(state.limit),
            "X-HubSpot-RateLimit-Remaining": str(state.remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(state.window_seconds * 1000)),
            "X-HubSpot-RateLimit-Daily": str(self.DAILY_LIMIT),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(self.DAILY_LIMIT - self.request_count, 0)),
        }

    def rate_limited_response(self, state: RateLimitState) -> Response:
        retry_after = state.retry_after or 1.0
        body = {
            **self.error_body(429, "You have reached your ten_secondly_rolling limit.", "RATE_LIMITS"),
            "errorType": "RATE_LIMIT",
            "policyName": "TEN_SECONDLY_ROLLING",
        }
        headers = {"Retry-After": str(max(1, round(retry_after))), **self.rate_limit_headers(state)}
        return self.json(body, status=429, headers=headers)

    def authenticate(self, request: Request) -> None:
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if token not in self.access_tokens:
            raise SandboxError(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
                code="INVALID_AUTHENTICATION",
            )

    # Store ---------------------------------------------------------------------------------------
    def add_owner(
        self, *, email: str, user_id: int, first_name: str = "", last_name: str = ""
    ) -> dict[str, Any]:
        """Set up an owner (a HubSpot user); counts no effect."""
        now = hs_datetime(datetime.now(UTC))
        owner_id = str(self.next_id("owner") + 100)
        owner = {
            "id": owner_id,
            "email": email,
            "firstName": first_name,
            "lastName": last_name,
            "userId": user_id,
            "type": "PERSON",
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
            "teams": [],
        }
        with self.lock:
            self.tables["owners"][owner_id] = owner
        return owner

    def add_sequence(self, name: str) -> str:
        """Set up a sequence and return its id; counts no effect."""
        with self.lock:
            sequence_id = str(self.next_id("sequence") + 1000)
            self.tables["sequences"][sequence_id] = {"id": sequence_id, "name": name}
        return sequence_id

    # Companies: what HubSpot keeps itself -------------------------------------------------------
    def calculate(self, object_type: str, record_id: str, **properties: str) -> dict[str, Any]:
        """Set properties HubSpot calculates itself (a company's ``total_revenue`` once a deal closes
        won): stamped and notified like any change; counts no effect (no API call made it)."""
        with self.lock:
            record = self._find(object_type, record_id, None)
            self._set(object_type, record, {name: str(value) for name, value in properties.items()})
            return record

    def _set(self, object_type: str, record: dict[str, Any], values: dict[str, str]) -> None:
        changed = {k: v for k, v in values.items() if record["properties"].get(k) != v}
        record["properties"].update(values)
        self._stamp(object_type, record, hs_datetime(datetime.now(UTC)))
        for name, value in changed.items():
            self._notify(object_type, record["id"], "propertyChange", propertyName=name, propertyValue=value)

    @route(
        "PUT",
        r"/crm/v4/objects/contacts?/(?P<contact_id>\d+)/associations/default/compan(?:y|ies)/(?P<company_id>\d+)",
    )
    def associate_company(self, request: Request) -> Response:
        """v4 "create default association" of a contact with a company. A contact's first company is
        its primary one (``associatedcompanyid``); both sides get an ``associationChange`` event."""
        contact_id, company_id = request.params["contact_id"], request.params["company_id"]
        with self.lock:
            contact = self._find("contacts", contact_id, None)
            self._find("companies", company_id, None)
            companies = contact["associations"].setdefault("companies", [])
            if company_id not in companies:
                companies.append(company_id)
                primary = not contact["properties"].get("associatedcompanyid")
                if primary:
                    self._set("contacts", contact, {"associatedcompanyid": company_id})
                self._notify_association(contact_id, company_id, removed=False, primary=primary)
                self.effect("associate", "contacts")
        now = hs_datetime(datetime.now(UTC))
        spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": CONTACT_TO_COMPANY}
        result = {"from": {"id": contact_id}, "to": {"id": company_id}, "associationSpec": spec}
        return self.json({"status": "COMPLETE", "results": [result], "startedAt": now, "completedAt": now})

    @route(
        "DELETE",
        r"/crm/v4/objects/contacts?/(?P<contact_id>\d+)/associations/compan(?:y|ies)/(?P<company_id>\d+)",
    )
    def dissociate_company(self, request: Request) -> Response:
        """Remove every association of a contact with a company; when it was the primary company, the
        next associated company becomes primary (or none)."""
        contact_id, company_id = request.params["contact_id"], request.params["company_id"]
        with self.lock:
            contact = self._find("contacts", contact_id, None)
            companies = contact["associations"].get("companies") or []
            if company_id in companies:
                companies.remove(company_id)
                primary = contact["properties"].get("associatedcompanyid") == company_id
                if primary:
                    self._set("contacts", contact, {"associatedcompanyid": companies[0] if companies else ""})
                self._notify_association(contact_id, company_id, removed=True, primary=primary)
                self.effect("dissociate", "contacts")
        return self.json(None, status=204)

    @route("PUT", r"/crm/v4/objects/deals/(?P<deal_id>\d+)/associations/default/contacts/(?P<contact_id>\d+)")
    def associate_deal(self, request: Request) -> Response:
        """v4 "create default association" of a deal with a contact (a deal created first, its buyer
        added later): ``deal.associationChange`` and ``contact.associationChange`` events."""
        deal_id, contact_id = request.params["deal_id"], request.params["contact_id"]
        with self.lock:
            deal = self._find("deals", deal_id, None)
            self._find("contacts", contact_id, None)
            contacts = deal["associations"].setdefault("contacts", [])
            if contact_id not in contacts:
                contacts.append(contact_id)
                self._association_events(
                    ("deal", "DEAL_TO_CONTACT", deal_id, contact_id),
                    ("contact", "CONTACT_TO_DEAL", contact_id, deal_id),
                    subscription=3000,
                    removed=False,
                    primary=False,
                )
                self.effect("associate", "deals")
        now = hs_datetime(datetime.now(UTC))
        spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}
        result = {"from": {"id": deal_id}, "to": {"id": contact_id}, "associationSpec": spec}
        return self.json({"status": "COMPLETE", "results": [result], "startedAt": now, "completedAt": now})

    def _primary_company(self, object_type: str, record: dict[str, Any], written: dict[str, str]) -> None:
        """A contact's ``associatedcompanyid`` written by a create or update associates that company
        as its primary one, as HubSpot does (the association's events follow the record's)."""
        company_id = written.get("associatedcompanyid") if object_type == "contacts" else None
        if company_id:
            companies = record["associations"].setdefault("companies", [])
            if company_id not in companies:
                companies.append(company_id)
            self._notify_association(record["id"], company_id, removed=False, primary=True)

    def _notify_association(self, contact_id: str, company_id: str, *, removed: bool, primary: bool) -> None:
        """HubSpot's ``associationChange`` events of a contact and a company."""
        self._association_events(
            ("contact", "CONTACT_TO_COMPANY", contact_id, company_id),
            ("company", "COMPANY_TO_CONTACT", company_id, contact_id),
            subscription=2000,
            removed=removed,
            primary=primary,
        )

    def _association_events(
        self,
        *sides: tuple[str, str, str, str],
        subscription: int,
        removed: bool,
        primary: bool,
    ) -> None:
        """HubSpot's ``associationChange`` events: one from each side of the association, each
        ``(subject, associationType, from id, to id)``; the second side's subscription is the next id."""
        for offset, (subject, kind, from_id, to_id) in enumerate(sides):
            event = {
                "eventId": self.next_id("webhook-event") + 100,
                "subscriptionId": subscription + offset,
                "portalId": self.PORTAL_ID,
                "appId": self.APP_ID,
                "occurredAt": int(time.time() * 1000),
                "subscriptionType": f"{subject}.associationChange",
                "attemptNumber": 0,
                "changeSource": "INTEGRATION",
                "associationType": kind,
                "fromObjectId": int(from_id),
                "toObjectId": int(to_id),
                "associationRemoved": removed,
                "isPrimaryAssociation": primary,
            }
            self.emit_webhook([event])

    def _object_type(self, request: Request) -> str:
        object_type = request.params["object_type"]
        if object_type not in PROPERTIES:
            raise SandboxError(
                400, f"Unable to infer object type from: {object_type}", code="VALIDATION_ERROR"
            )
        return object_type

    def _check_properties(self, object_type: str, properties: dict[str, Any]) -> dict[str, str]:
        known = PROPERTIES[object_type] | self.custom_properties.get(object_type, set())
        unknown = [name for name in properties if name not in known]
        read_only = [name for name in properties if name in READ_ONLY_PROPERTIES.get(object_type, ())]
        if read_only:
            details = ", ".join(
                f"{name} is a read only property; its value cannot be set." for name in read_only
            )
            raise SandboxError(400, f"Property values were not valid: {details}", code="VALIDATION_ERROR")
        company = properties.get("associatedcompanyid") if object_type == "contacts" else None
        if company not in (None, "") and str(company) not in self.tables["companies"]:
            message = f"Property values were not valid: associatedcompanyid {company} is not a company ID"
            raise SandboxError(400, message, code="VALIDATION_ERROR")
        if unknown:
            details = ", ".join(f'Property "{name}" does not exist' for name in unknown)
            raise SandboxError(400, f"Property values were not valid: {details}", code="VALIDATION_ERROR")
        return {name: "" if value is None else str(value) for name, value in properties.items()}

    def _stamp(self, object_type: str, record: dict[str, Any], now: str) -> None:
        record["updatedAt"] = now
        record["properties"][MODIFIED_PROPERTY[object_type]] = now

    def _create(
        self, object_type: str, properties: dict[str, Any], associations: dict[str, list[str]] | None = None
    ) -> dict[str, Any]:
        clean = self._check_properties(object_type, properties)
        missing = [name for name in REQUIRED_PROPERTIES.get(object_type, ()) if not clean.get(name)]
        if missing:
            raise SandboxError(
                400, f"Missing required properties: {', '.join(missing)}", code="VALIDATION_ERROR"
            )
        now = hs_datetime(datetime.now(UTC))
        clean = _with_stage_dates(object_type, {}, clean, now)
        record_id = str(self.next_id(object_type) + 5000)
        record = {
            "id": record_id,
            "properties": {"hs_object_id": record_id, CREATED_PROPERTY[object_type]: now, **clean},
            "createdAt": now,
            "archived": False,
            "associations": associations or {},
        }
        self._stamp(object_type, record, now)
        self.tables[object_type][record_id] = record
        self._index(object_type, record)
        self._primary_company(object_type, record, clean)
        self.effect("create", object_type)
        self._notify(object_type, record_id, "creation")
        return record

    def _update(self, object_type: str, record: dict[str, Any], properties: dict[str, Any]) -> None:
        now = hs_datetime(datetime.now(UTC))
        clean = _with_stage_dates(
            object_type, record["properties"], self._check_properties(object_type, properties), now
        )
        changed = {k: v for k, v in clean.items() if record["properties"].get(k) != v}
        record["properties"].update(clean)
        self._index(object_type, record)
        self._stamp(object_type, record, now)
        self._primary_company(object_type, record, changed)
        self.effect("update", object_type)
        for name, value in changed.items():
            self._notify(object_type, record["id"], "propertyChange", propertyName=name, propertyValue=value)

    def _notify(self, object_type: str, object_id: str, change: str, **details: str) -> None:
        """Queue HubSpot's webhook event (a JSON array of events; one per delivery here): the legacy
        ``contact.propertyChange`` form, or for engagements the generic ``object.propertyChange``
        naming the type by ``objectTypeId``."""
        subject = WEBHOOK_SUBJECTS.get(object_type)
        generic = GENERIC_WEBHOOK_TYPES.get(object_type)
        if subject is None and generic is None:
            return  # no webhook subscription for tasks here
        if details.get("propertyName") in DEAL_CALCULATED:
            return  # calculated properties are not subscribed to (the stage change is)
        event = {
            "eventId": self.next_id("webhook-event") + 100,
            "subscriptionId": 1000 + list(PROPERTIES).index(object_type),
            "portalId": self.PORTAL_ID,
            "appId": self.APP_ID,
            "occurredAt": int(time.time() * 1000),
            "subscriptionType": f"{subject}.{change}" if subject else f"object.{change}",
            **({"objectTypeId": generic} if generic else {}),
            "attemptNumber": 0,
            "objectId": int(object_id),
            "changeSource": "INTEGRATION",
            **details,
        }
        self.emit_webhook([event])

    def sign_webhook(self, body: bytes) -> dict[str, str]:
        """HubSpot's v3 signature over POST, the target URI, the body and the time in milliseconds."""
        timestamp = str(int(time.time() * 1000))
        signature = signatures.hubspot_sign_v3(
            client_secret=self.client_secret,
            method="POST",
            uri=self.public_webhook_url or self.webhooks.url or "",
            body=body,
            timestamp=timestamp,
        )
        return {
            signatures.HUBSPOT_SIGNATURE_HEADER: signature,
            signatures.HUBSPOT_TIMESTAMP_HEADER: timestamp,
        }

    def _find(self, object_type: str, object_id: str, id_property: str | None) -> dict[str, Any]:
        if id_property in (None, "", "hs_object_id"):
            record = self.tables[object_type].get(object_id)
        else:
            record = self._by_unique(object_type, str(id_property), object_id)
        if record is None:
            raise SandboxError(404, "Object not found.", code="OBJECT_NOT_FOUND")
        return record

    def _by_unique(self, object_type: str, id_property: str, value: str) -> dict[str, Any] | None:
        if id_property not in UNIQUE_PROPERTIES.get(object_type, set()):
            raise SandboxError(
                400,
                f"{id_property} is not a unique identifier property for {object_type}",
                code="VALIDATION_ERROR",
            )
        record = self.tables[object_type].get(self._unique.get((object_type, id_property, value), ""))
        # An entry left behind by a changed value no longer matches, and is ignored.
        return record if record is not None and record["properties"].get(id_property) == value else None

    def _index(self, object_type: str, record: dict[str, Any]) -> None:
        """Index the record's unique properties (upserts look them up 100 at a time)."""
        for name in UNIQUE_PROPERTIES.get(object_type, ()):
            value = record["properties"].get(name)
            if value:
                self._unique[(object_type, name, value)] = record["id"]

    @staticmethod
    def _view(
        record: dict[str, Any], properties: list[str] | None, *, new: bool | None = None
    ) -> dict[str, Any]:
        """The record as HubSpot returns it: only the asked properties (and the defaults)."""
        shown = record["properties"]
        if properties is not None:
            defaults = {
                "hs_object_id",
                "createdate",
                "lastmodifieddate",
                "hs_lastmodifieddate",
                "hs_createdate",
            }
            shown = {k: v for k, v in shown.items() if k in set(properties) | defaults}
        view = {k: v for k, v in record.items() if k != "associations"}
        view["properties"] = dict(shown)
        if new is not None:
            view["new"] = new
        return view

    # CRM objects ---------------------------------------------------------------------------------
    @route("GET", r"/crm/v3/objects/(?P<object_type>\w+)/(?P<object_id>[^/]+)")
    def read(self, request: Request) -> Response:
        object_type = self._object_type(request)
        wanted = request.query.get("properties")
        properties = [p for value in wanted for p in value.split(",")] if wanted else None
        associated = [t for value in request.query.get("associations", []) for t in value.split(",")]
        with self.lock:
            record = self._find(object_type, request.params["object_id"], request.arg("idProperty"))
            view = self._view(record, properties)
            if associated:
                # As HubSpot: only the types that have associations, each a collection of ids.
                view["associations"] = {
                    to_type: {
                        "results": [{"id": i, "type": f"{object_type[:-1]}_to_{to_type[:-1]}"} for i in ids]
                    }
                    for to_type, ids in record["associations"].items()
                    if to_type in associated and ids
                }
            return self.json(view)

    @route("POST", r"/crm/v4/associations/(?P<from_type>\w+)/(?P<to_type>\w+)/batch/read")
    def associations_batch_read(self, request: Request) -> Response:
        """v4 batch read: per input id its associated ids of ``to_type``; ids without any are left out."""
        from_type, to_type = request.params["from_type"], request.params["to_type"]
        inputs = request.json().get("inputs") or []
        if len(inputs) > 1000:
            raise SandboxError(400, "Batch input limit of 1000 exceeded", code="VALIDATION_ERROR")
        results = []
        with self.lock:
            for item in inputs:
                record = self.tables[from_type].get(str(item.get("id")))
                ids = (record or {}).get("associations", {}).get(to_type) or []
                if ids:
                    to = [{"toObjectId": int(i), "associationTypes": []} for i in ids]
                    results.append({"from": {"id": str(item["id"])}, "to": to})
        now = hs_datetime(datetime.now(UTC))
        return self.json({"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now})

    @route("POST", r"/crm/v3/objects/(?P<object_type>\w+)")
    def create(self, request: Request) -> Response:
        object_type = self._object_type(request)
        payload = request.json()
        with self.lock:
            targets = self._association_targets(object_type, payload.get("associations") or [])
            record = self._create(object_type, payload.get("properties") or {}, associations=targets)
            view = self._view(record, None)
        return self.json(view, status=201)

    def _association_targets(
        self, object_type: str, associations: list[dict[str, Any]]
    ) -> dict[str, list[str]]:
        targets: dict[str, list[str]] = {}
        for association in associations:
            target_id = str(association.get("to", {}).get("id"))
            for kind in association.get("types") or []:
                to_type = ASSOCIATION_TYPES.get(object_type, {}).get(int(kind.get("associationTypeId", 0)))
                if to_type is None:
                    raise SandboxError(400, "Invalid association type", code="VALIDATION_ERROR")
                if target_id not in self.tables[to_type]:
                    raise SandboxError(
                        400, f"No {to_type} with ID {target_id} exist", code="VALIDATION_ERROR"
                    )
                targets.setdefault(to_type, []).append(target_id)
        return targets

    @route("PATCH", r"/crm/v3/objects/(?P<object_type>\w+)/(?P<object_id>[^/]+)")
    def update(self, request: Request) -> Response:
        object_type = self._object_type(request)
        with self.lock:
            record = self._find(object_type, request.params["object_id"], request.arg("idProperty"))
            self._update(object_type, record, request.json().get("properties") or {})
            view = self._view(record, None)
        return self.json(view)

    @route("POST", r"/crm/v3/objects/(?P<object_type>\w+)/batch/upsert")
    def batch_upsert(self, request: Request) -> Response:
        object_type = self._object_type(request)
        inputs = request.json().get("inputs") or []
        if len(inputs) > BATCH_LIMIT:
            raise SandboxError(400, f"Batch input limit of {BATCH_LIMIT} exceeded", code="VALIDATION_ERROR")
        keys = [(item.get("idProperty"), str(item.get("id"))) for item in inputs]
        if len(set(keys)) != len(keys):
            raise SandboxError(400, "Duplicate IDs found in batch input", code="VALIDATION_ERROR")
        started = hs_datetime(datetime.now(UTC))
        results = []
        with self.lock:
            # Validate every input first: HubSpot refuses the whole batch on a bad property.
            for item in inputs:
                self._check_properties(object_type, item.get("properties") or {})
                self._by_unique(object_type, str(item.get("idProperty")), "")
            for item in inputs:
                id_property, value = str(item["idProperty"]), str(item["id"])
                properties = {**(item.get("properties") or {}), id_property: value}
                record = self._by_unique(object_type, id_property, value)
                new = record is None
                if record is None:
                    record = self._create(object_type, properties)
                else:
                    self._update(object_type, record, properties)
                results.append(self._view(record, None, new=new))
        body = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": hs_datetime(datetime.now(UTC)),
        }
        return self.json(body)

    @route("POST", r"/crm/v3/objects/(?P<object_type>\w+)/search")
    def search(self, request: Request) -> Response:
        object_type = self._object_type(request)
        query = request.json()
        limit = int(query.get("limit") or 10)
        after = int(query.get("after") or 0)
        if limit > SEARCH_PAGE_LIMIT:
            raise SandboxError(400, f"limit must be at most {SEARCH_PAGE_LIMIT}", code="VALIDATION_ERROR")
        if after + limit > self.search_result_limit:
            raise SandboxError(
                400, f"after + limit must not exceed {self.search_result_limit}", code="VALIDATION_ERROR"
            )
        with self.lock:
            rows = [
                r
                for r in self.tables[object_type].values()
                if self._matches(r, query.get("filterGroups") or [])
            ]
            for sort in reversed(query.get("sorts") or []):
                name, descending = self._sort_spec(sort)
                rows.sort(key=self._sort_key(name), reverse=descending)
            page = [self._view(r, query.get("properties")) for r in rows[after : after + limit]]
        body: dict[str, Any] = {"total": len(rows), "results": page}
        if after + limit < len(rows):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return self.json(body)

    @staticmethod
    def _sort_spec(sort: Any) -> tuple[str, bool]:
        if isinstance(sort, str):
            return sort.lstrip("-"), sort.startswith("-")
        return str(sort.get("propertyName")), sort.get("direction") == "DESCENDING"

    @classmethod
    def _sort_key(cls, name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
        return lambda record: cls._sortable(name, record["properties"].get(name))

    @staticmethod
    def _sortable(name: str, value: str | None) -> tuple[bool, Any]:
        if not value:
            return (True, "")
        if name in DATE_PROPERTIES:
            return (False, _millis(value))
        return (False, value)

    def _matches(self, record: dict[str, Any], groups: list[dict[str, Any]]) -> bool:
        def holds(item: dict[str, Any]) -> bool:
            name, operator = str(item.get("propertyName")), str(item.get("operator", "EQ"))
            if operator not in _FILTERS:
                raise SandboxError(400, f"Unsupported operator {operator}", code="VALIDATION_ERROR")
            actual, expected = record["properties"].get(name), item.get("value")
            if name in DATE_PROPERTIES and actual not in (None, "") and expected is not None:
                return bool(_FILTERS[operator](_millis(actual), _millis(str(expected))))
            return bool(_FILTERS[operator](actual, None if expected is None else str(expected)))

        return not groups or any(all(holds(f) for f in group.get("filters") or []) for group in groups)

    # Owners and sequences ------------------------------------------------------------------------
    @route("GET", r"/crm/v3/owners/(?P<owner_id>[^/]+)")
    def owner(self, request: Request) -> Response:
        key = "userId" if request.arg("idProperty") == "userId" else "id"
        with self.lock:
            owner = next(
                (o for o in self.tables["owners"].values() if str(o[key]) == request.params["owner_id"]), None
            )
        if owner is None:
            raise SandboxError(404, "Owner not found", code="OBJECT_NOT_FOUND")
        return self.json(owner)

    @route("POST", r"/automation/v4/sequences/enrollments/?")
    def enrol(self, request: Request) -> Response:
        user_id = request.arg("userId")
        payload = request.json()
        with self.lock:
            sequence = self.tables["sequences"].get(str(payload.get("sequenceId")))
            contact = self.tables["contacts"].get(str(payload.get("contactId")))
            sender = next((o for o in self.tables["owners"].values() if str(o["userId"]) == user_id), None)
            if sequence is None or contact is None or sender is None:
                missing = "sequence" if sequence is None else "contact" if contact is None else "user"
                raise SandboxError(400, f"Invalid {missing} for enrollment", code="VALIDATION_ERROR")
            if sender["email"] != payload.get("senderEmail"):
                raise SandboxError(
                    400, "senderEmail must be a connected inbox of the user", code="VALIDATION_ERROR"
                )
            if any(e["contactId"] == contact["id"] for e in self.tables["enrollments"].values()):
                raise SandboxError(400, "Contact is already enrolled in a sequence", code="VALIDATION_ERROR")
            now = hs_datetime(datetime.now(UTC))
            enrollment_id = str(self.next_id("enrollment") + 9000)
            self.tables["enrollments"][enrollment_id] = {
                "id": enrollment_id,
                "contactId": contact["id"],
                "sequenceId": sequence["id"],
                "sequenceName": sequence["name"],
                "toEmail": contact["properties"].get("email", ""),
                "enrolledBy": user_id,
                "enrolledByEmail": sender["email"],
                "enrolledAt": now,
                "updatedAt": now,
            }
            self.effect("create", "enrollment")
        return self.json(
            {
                "id": enrollment_id,
                "toEmail": contact["properties"].get("email", ""),
                "enrolledAt": now,
                "updatedAt": now,
            }
        )

    @route("GET", r"/automation/v4/sequences/enrollments/contact/(?P<contact_id>\d+)")
    def enrolment_of(self, request: Request) -> Response:
        with self.lock:
            enrollment = next(
                (
                    e
                    for e in self.tables["enrollments"].values()
                    if e["contactId"] == request.params["contact_id"]
                ),
                None,
            )
        if enrollment is None:
            raise SandboxError(404, "The contact is not enrolled in a sequence", code="OBJECT_NOT_FOUND")
        return self.json(enrollment)
