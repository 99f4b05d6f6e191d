"""A Salesforce REST API emulator: the subset simple-salesforce calls for our connector.

Paths under ``/services/data/vXX.X/``: sObject read, create, update and upsert by external id
(``PATCH sobjects/Lead/<ExtIdField>/<value>``), sObject Collections upsert
(``PATCH composite/sobjects/Lead/<ExtIdField>``, at most 200 records), SOQL ``query`` with
``nextRecordsUrl`` paging (a small SOQL subset: field list, ``WHERE`` of ``AND``-ed comparisons,
``ORDER BY``, ``LIMIT``), and the ``assignTargetToSalesCadence`` invocable action that enrols a
lead or contact in a Sales Engagement cadence (tracked as ``ActionCadenceTracker`` rows).

As Salesforce does: errors are a list of ``{"message", "errorCode"}``; every answer carries
``Sforce-Limit-Info: api-usage=n/m``; over the limit it answers 403 ``REQUEST_LIMIT_EXCEEDED``
(Salesforce sends no 429 and no Retry-After); an upsert by external id is repeatable, a create sent
twice creates two records. Requests need ``Authorization: Bearer <session id>``. Changes to leads,
contacts and accounts are sent as workflow outbound messages (SOAP ``notifications`` carrying the
``OrganizationId`` and the sObject) to the configured webhook URL. ``convert_lead`` converts a Lead
as convertLead does (``IsConverted``, ``ConvertedDate``, the new Account, Contact and Opportunity
ids; those fields are read-only and a converted Lead cannot be updated).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar
from xml.sax.saxutils import escape

from connectors.sandbox import register_emulator
from connectors.sandbox.server import (
    COMPARISONS,
    RateLimitState,
    Request,
    Response,
    SandboxApp,
    SandboxError,
    route,
)

API = r"/services/data/v(?P<version>\d+\.\d)"
SF_ID = r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?"

#: Standard fields we emulate per sObject; custom ``__c`` fields are listed in ``CUSTOM_FIELDS``.
STANDARD_FIELDS: dict[str, set[str]] = {
    "Lead": {
        "FirstName",
        "LastName",
        "Company",
        "Email",
        "Phone",
        "Title",
        "Status",
        "LeadSource",
        "Industry",
        "HasOptedOutOfEmail",
    },
    "Contact": {"FirstName", "LastName", "Email", "Phone", "Title", "AccountId"},
    "Account": {
        "Name",
        "Industry",
        "Website",
        "NumberOfEmployees",
        "AnnualRevenue",
        "BillingCountry",
        "Type",
    },
    "Task": {
        "Subject",
        "Description",
        "Status",
        "Priority",
        "WhoId",
        "WhatId",
        "ActivityDate",
        "Type",
        "TaskSubtype",
        "CallType",
        "CallDurationInSeconds",
        "CallDisposition",
        "CompletedDateTime",
    },
    # Engagement and deals (connectors.signals): meetings, emails with their recipients, opportunities.
    "Event": {"Subject", "WhoId", "WhatId", "StartDateTime", "EndDateTime", "ActivityDateTime", "Type"},
    "EmailMessage": {
        "Subject",
        "FromAddress",
        "ToAddress",
        "MessageDate",
        "Incoming",
        "Status",
        "IsBounced",
        "FirstOpenedDate",
        "RelatedToId",
    },
    "EmailMessageRelation": {"EmailMessageId", "RelationId", "RelationType", "RelationAddress"},
    "Opportunity": {"Name", "StageName", "Amount", "CloseDate", "AccountId", "Probability"},
    "OpportunityContactRole": {"OpportunityId", "ContactId", "Role", "IsPrimary"},
    "User": {"Username", "Email", "FirstName", "LastName", "IsActive"},
    "ActionCadence": {"Name", "State"},
    "ActionCadenceTracker": {"ActionCadenceId", "TargetId", "State"},
}
SYSTEM_FIELDS = {"Id", "OwnerId", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"}
#: Fields Salesforce sets itself and refuses in a create or update (a Lead's are set by converting it).
READ_ONLY_FIELDS: dict[str, set[str]] = {
    "Lead": {
        "IsConverted",
        "ConvertedDate",
        "ConvertedAccountId",
        "ConvertedContactId",
        "ConvertedOpportunityId",
    },
    # Salesforce derives them from the stage (OpportunityStage): Closed Won is won and closed.
    "Opportunity": {"IsWon", "IsClosed"},
}
#: The standard closed stages and what Salesforce derives from each (IsClosed, IsWon).
CLOSED_STAGES = {"Closed Won": (True, True), "Closed Lost": (True, False)}
REQUIRED_FIELDS = {"Lead": ("LastName", "Company"), "Contact": ("LastName",), "Account": ("Name",)}
ID_PREFIXES = {
    "Lead": "00Q",
    "Contact": "003",
    "Account": "001",
    "Task": "00T",
    "User": "005",
    "ActionCadence": "7cd",
    "ActionCadenceTracker": "7ct",
    "Event": "00U",
    "EmailMessage": "02s",
    "EmailMessageRelation": "0Rw",
    "Opportunity": "006",
    "OpportunityContactRole": "00K",
}
DATETIME_FIELDS = {"CreatedDate", "LastModifiedDate", "SystemModstamp", "MessageDate", "StartDateTime"}
COLLECTION_LIMIT = 200


def sf_datetime(moment: datetime) -> str:
    """Salesforce's datetime format: ``2024-05-01T12:00:00.000+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_sf_datetime(value: str) -> datetime:
    """Parse Salesforce's datetime format, or a SOQL datetime literal (``…Z`` / ``…+01:00``)."""
    text = value.replace("Z", "+00:00")
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)
    return datetime.fromisoformat(text)


# SOQL ----------------------------------------------------------------------------------------------
_SOQL = re.compile(
    r"\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(
    r"\s*(?P<field>\w+)\s*(?P<op>!=|>=|<=|=|>|<|IN\b)\s*"
    r"(?P<value>\((?:\s*'(?:[^'\\]|\\.)*'\s*,?)+\)|'(?:[^'\\]|\\.)*'|\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)|-?\d+(?:\.\d+)?|null|true|false)\s*",
    re.IGNORECASE,
)


_UNESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _soap_text(value: Any) -> str:
    """A field's value as an outbound message writes it (booleans as xsd:boolean: ``true``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


#: SOQL's comparisons, and ``IN`` with a list of literals.
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {**COMPARISONS, "IN": lambda a, b: a in b}


def _derive(sobject: str, record: dict[str, Any]) -> None:
    """The fields Salesforce derives on save: an Opportunity's ``IsClosed``/``IsWon`` from its stage."""
    if sobject == "Opportunity":
        record["IsClosed"], record["IsWon"] = CLOSED_STAGES.get(record.get("StageName") or "", (False, False))


def _malformed(message: str) -> SandboxError:
    return SandboxError(400, message, code="MALFORMED_QUERY")


def _literal(text: str) -> Any:
    if text.startswith("("):  # IN ('a', 'b')
        return [_literal(item) for item in re.findall(r"'(?:[^'\\]|\\.)*'", text)]
    if text.startswith("'"):
        return re.sub(r"\\(.)", lambda m: _UNESCAPES.get(m[1], m[1]), text[1:-1])
    lowered = text.lower()
    if lowered in ("null", "true", "false"):
        return {"null": None, "true": True, "false": False}[lowered]
    if "T" in text:
        return parse_sf_datetime(text)
    return float(text) if "." in text else int(text)


def parse_soql(soql: str) -> dict[str, Any]:
    """The parts of a query in our SOQL subset; ``SandboxError`` 400 MALFORMED_QUERY otherwise."""
    match = _SOQL.fullmatch(soql)
    if match is None:
        raise _malformed(f"unexpected token in query: {soql[:80]}")
    conditions = []
    where = match["where"] or ""
    position = 0
    while where and position < len(where):
        condition = _CONDITION.match(where, position)
        if condition is None:
            raise _malformed(f"unexpected token: {where[position:][:40]}")
        conditions.append((condition["field"], condition["op"].upper(), _literal(condition["value"])))
        position = condition.end()
        joiner = re.compile(r"AND\s+", re.IGNORECASE).match(where, position)
        if joiner is not None:
            position = joiner.end()
        elif position < len(where):
            raise _malformed(f"unexpected token: {where[position:][:40]} (only AND is supported)")
    order = []
    for part in (match["order"] or "").split(","):
        words = part.split()
        if words:
            order.append((words[0], len(words) > 1 and words[1].upper() == "DESC"))
    return {
        "fields": [f.strip() for f in match["fields"].split(",")],
        "object": match["object"],
        "conditions": conditions,
        "order": order,
        "limit": int(match["limit"]) if match["limit"] else None,
    }


@register_emulator
class SalesforceSandbox(SandboxApp):
    """Salesforce's REST API as simple-salesforce sees it (see the module docstring)."""

    name = "salesforce"
    default_port = 8801

    #: External id fields per sObject (the upsert key) and other custom fields we store.
    CUSTOM_FIELDS: ClassVar[dict[str, set[str]]] = {
        "Lead": {"AgentOps_External_Id__c"},
        "Contact": {"AgentOps_External_Id__c"},
        "Account": {"AgentOps_External_Id__c"},
        "Task": {"AgentOps_Marker__c"},
    }
    EXTERNAL_ID_FIELDS: ClassVar[dict[str, set[str]]] = {
        "Lead": {"AgentOps_External_Id__c"},
        "Contact": {"AgentOps_External_Id__c"},
        "Account": {"AgentOps_External_Id__c"},
    }

    def __init__(self) -> None:
        self.session_ids = {"sandbox-session"}
        #: Outbound messages carry the org id; our endpoint checks it and a secret in its URL.
        self.organization_id = "00D000000000001AAA"
        #: The objects with a workflow outbound message (an org admin's choice per object; Task,
        #: Event and Opportunity can have one too: add them).
        self.outbound_objects = {"Lead", "Contact", "Account"}
        #: Records per query page (Salesforce's default batch is 2,000).
        self.query_batch_size = 2000
        #: The org's daily API request allowance, reported in Sforce-Limit-Info and enforced.
        self.daily_limit = 100_000
        super().__init__()

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self._cursors: dict[str, list[dict[str, Any]]] = {}

    # Vendor shapes ------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, code: str) -> Any:
        return [{"message": message, "errorCode": code or "UNKNOWN_EXCEPTION"}]

    def rate_limit_headers(self, state: RateLimitState) -> dict[str, str]:
        return {}  # Salesforce reports usage in Sforce-Limit-Info only

    def rate_limited_response(self, state: RateLimitState) -> Response:
        return self.error(403, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")

    def extra_headers(self, request: Request, response: Response) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.request_count}/{self.daily_limit}"}

    def authenticate(self, request: Request) -> None:
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if token not in self.session_ids:
            raise SandboxError(401, "Session expired or invalid", code="INVALID_SESSION_ID")
        if self.request_count > self.daily_limit:
            raise SandboxError(403, "TotalRequests Limit exceeded.", code="REQUEST_LIMIT_EXCEEDED")

    # Outbound messages -----------------------------------------------------------------------------
    def _notify(self, sobject: str, record: dict[str, Any]) -> None:
        """Queue an outbound message for a change to ``record`` (workflow outbound messages)."""
        if sobject in self.outbound_objects:
            # The notification id is fixed per change, so a redelivery repeats it as Salesforce does.
            notification_id = f"04l{self.next_id('outbound-message'):012d}AAA"
            self.emit_webhook(
                {"sobject": sobject, "record": dict(record), "notification_id": notification_id}
            )

    def encode_webhook(self, event: Any) -> tuple[bytes, str]:
        """Salesforce's outbound message: a SOAP ``notifications`` envelope holding the sObject."""
        sobject, record = event["sobject"], event["record"]
        fields = "".join(
            f"<sf:{name}>{escape(_soap_text(value))}</sf:{name}>"
            for name, value in record.items()
            if value is not None
        )
        notification_id = event.get("notification_id") or f"04l{self.next_id('outbound-message'):012d}AAA"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f"<OrganizationId>{self.organization_id}</OrganizationId>"
            f"<ActionId>04k000000000001AAA</ActionId>"
            '<SessionId xsi:nil="true"/>'
            f"<EnterpriseUrl>{escape(self.base_url)}/services/Soap/c/59.0/{self.organization_id[:15]}</EnterpriseUrl>"
            f"<PartnerUrl>{escape(self.base_url)}/services/Soap/u/59.0/{self.organization_id[:15]}</PartnerUrl>"
            f"<Notification><Id>{notification_id}</Id>"
            f'<sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}</sObject>'
            "</Notification></notifications></soapenv:Body></soapenv:Envelope>"
        )
        return body.encode(), "text/xml; charset=utf-8"

    # Store ---------------------------------------------------------------------------------------
    def add_record(self, sobject: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Insert a record directly (test set-up, e.g. users and cadences); counts no effect."""
        with self.lock:
            return self._insert(sobject, fields)

    def add_custom_field(self, sobject: str, name: str) -> None:
        """Define one of the org's own custom fields (``Annual_Contract_Value__c``) on ``sobject``."""
        with self.lock:
            fields = {**self.CUSTOM_FIELDS, sobject: {*self.CUSTOM_FIELDS.get(sobject, set()), name}}
            self.CUSTOM_FIELDS = fields  # type: ignore[misc]  # this org's, not every sandbox's

    def convert_lead(self, lead_id: str, *, status: str = "Closed - Converted") -> dict[str, Any]:
        """Convert a Lead as Salesforce's convertLead does (the SOAP call or a user in the UI; REST has
        no endpoint for it): an Account, a Contact and an Opportunity are created, the Lead becomes
        read-only with ``IsConverted`` true, ``ConvertedDate`` today (a date, no time), the new
        records' ids and ``status``; its outbound message is sent."""
        with self.lock:
            lead = self._get("Lead", lead_id)
            if lead.get("IsConverted"):
                raise SandboxError(
                    400, "This lead was already converted.", code="CANNOT_UPDATE_CONVERTED_LEAD"
                )
            account = self._insert("Account", {"Name": lead.get("Company") or lead["LastName"]})
            # The Contact is the lead's person at the new Account, with its email.
            person = {"LastName": lead["LastName"], "FirstName": lead.get("FirstName") or ""}
            contact = self._insert(
                "Contact", {**person, "Email": lead.get("Email"), "AccountId": account["Id"]}
            )
            now = datetime.now(UTC)
            opportunity = self._insert(
                "Opportunity",
                {
                    "Name": f"{lead.get('Company') or lead['LastName']}-",
                    "StageName": "Prospecting",
                    "CloseDate": now.date().isoformat(),
                    "AccountId": account["Id"],
                },
            )
            self._insert(
                "OpportunityContactRole",
                {"OpportunityId": opportunity["Id"], "ContactId": contact["Id"], "IsPrimary": True},
            )
            opportunity_id = opportunity["Id"]
            lead.update(
                IsConverted=True,
                ConvertedDate=now.date().isoformat(),
                ConvertedAccountId=account["Id"],
                ConvertedContactId=contact["Id"],
                ConvertedOpportunityId=opportunity_id,
                Status=status,
                LastModifiedDate=sf_datetime(now),
                SystemModstamp=sf_datetime(now),
            )
            self.effect("convert", "Lead")
        self._notify("Lead", lead)
        return lead

    def _check_object(self, sobject: str) -> None:
        if sobject not in STANDARD_FIELDS:
            raise SandboxError(404, f"The requested resource does not exist: {sobject}", code="NOT_FOUND")

    def _check_fields(self, sobject: str, fields: dict[str, Any]) -> None:
        allowed = STANDARD_FIELDS[sobject] | self.CUSTOM_FIELDS.get(sobject, set()) | {"OwnerId"}
        for name in fields:
            if name in READ_ONLY_FIELDS.get(sobject, set()):
                raise SandboxError(
                    400, f"Unable to create/update fields: {name}.", code="INVALID_FIELD_FOR_INSERT_UPDATE"
                )
            if name not in allowed:
                raise SandboxError(
                    400, f"No such column '{name}' on sobject of type {sobject}", code="INVALID_FIELD"
                )

    def _insert(self, sobject: str, fields: dict[str, Any]) -> dict[str, Any]:
        self._check_fields(sobject, {k: v for k, v in fields.items() if k not in SYSTEM_FIELDS})
        missing = [name for name in REQUIRED_FIELDS.get(sobject, ()) if not fields.get(name)]
        if missing:
            raise SandboxError(
                400, f"Required fields are missing: [{', '.join(missing)}]", code="REQUIRED_FIELD_MISSING"
            )
        now = sf_datetime(datetime.now(UTC))
        number = self.next_id(sobject)
        record_id = f"{ID_PREFIXES[sobject]}{number:012d}AAA"
        record = {
            "Id": record_id,
            "OwnerId": "005000000000001AAA",
            "CreatedDate": now,
            "LastModifiedDate": now,
            "SystemModstamp": now,
            "IsDeleted": False,
            **({"IsConverted": False} if sobject == "Lead" else {}),
            **fields,
        }
        _derive(sobject, record)
        self.tables[sobject][record_id] = record
        return record

    def _update(self, sobject: str, record: dict[str, Any], fields: dict[str, Any]) -> None:
        if sobject == "Lead" and record.get("IsConverted"):
            raise SandboxError(400, "cannot reference converted lead", code="CANNOT_UPDATE_CONVERTED_LEAD")
        self._check_fields(sobject, fields)
        now = sf_datetime(datetime.now(UTC))
        record.update(fields, LastModifiedDate=now, SystemModstamp=now)
        _derive(sobject, record)

    def _get(self, sobject: str, record_id: str) -> dict[str, Any]:
        self._check_object(sobject)
        for candidate in self.tables[sobject].values():
            # Salesforce accepts the 15- and the 18-character form of an id.
            if candidate["Id"] == record_id or candidate["Id"][:15] == record_id:
                return candidate
        raise SandboxError(404, "The requested resource does not exist", code="NOT_FOUND")

    def _by_external_id(self, sobject: str, field: str, value: str) -> dict[str, Any] | None:
        self._check_object(sobject)
        if field not in self.EXTERNAL_ID_FIELDS.get(sobject, set()):
            raise SandboxError(
                404,
                f"Provided external ID field does not exist or is not accessible: {field}",
                code="NOT_FOUND",
            )
        matches = [r for r in self.tables[sobject].values() if r.get(field) == value]
        if len(matches) > 1:
            raise SandboxError(
                300, f"More than one record found for external id {value}", code="MULTIPLE_CHOICES"
            )
        return matches[0] if matches else None

    def _upsert(
        self, sobject: str, field: str, value: str, fields: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        if field in fields and fields[field] != value:
            raise SandboxError(
                400, f"The external ID field {field} does not match the URL", code="INVALID_FIELD"
            )
        record = self._by_external_id(sobject, field, value)
        if record is None:
            record = self._insert(sobject, {**fields, field: value})
            self.effect("create", sobject)
            return record, True
        self._update(sobject, record, fields)
        self.effect("update", sobject)
        return record, False

    def _with_attributes(
        self, version: str, sobject: str, record: dict[str, Any], fields: list[str] | None
    ) -> dict:
        names = fields if fields is not None else list(record)
        return {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/v{version}/sobjects/{sobject}/{record['Id']}",
            },
            **{name: record.get(name) for name in names},
        }

    # sObjects ------------------------------------------------------------------------------------
    @route("GET", API + rf"/sobjects/(?P<sobject>\w+)/(?P<record_id>{SF_ID})")
    def read(self, request: Request) -> Response:
        sobject = request.params["sobject"]
        with self.lock:
            record = self._get(sobject, request.params["record_id"])
            return self.json(self._with_attributes(request.params["version"], sobject, record, None))

    @route("POST", API + r"/sobjects/(?P<sobject>\w+)/?")
    def create(self, request: Request) -> Response:
        sobject = request.params["sobject"]
        self._check_object(sobject)
        with self.lock:
            record = self._insert(sobject, request.json())
            self.effect("create", sobject)
        self._notify(sobject, record)
        return self.json({"id": record["Id"], "success": True, "errors": []}, status=201)

    @route("PATCH", API + rf"/sobjects/(?P<sobject>\w+)/(?P<record_id>{SF_ID})")
    def update(self, request: Request) -> Response:
        sobject = request.params["sobject"]
        with self.lock:
            record = self._get(sobject, request.params["record_id"])
            self._update(sobject, record, request.json())
            self.effect("update", sobject)
        self._notify(sobject, record)
        return self.json(None, status=204)

    @route("PATCH", API + r"/sobjects/(?P<sobject>\w+)/(?P<field>\w+__c)/(?P<value>[^/]+)")
    def upsert(self, request: Request) -> Response:
        sobject, field = request.params["sobject"], request.params["field"]
        with self.lock:
            record, created = self._upsert(sobject, field, request.params["value"], request.json())
        self._notify(sobject, record)
        body = {"id": record["Id"], "success": True, "errors": [], "created": created}
        return self.json(body, status=201 if created else 200)

    @route("GET", API + r"/sobjects/(?P<sobject>\w+)/(?P<field>\w+__c)/(?P<value>[^/]+)")
    def read_by_external_id(self, request: Request) -> Response:
        sobject = request.params["sobject"]
        with self.lock:
            record = self._by_external_id(sobject, request.params["field"], request.params["value"])
            if record is None:
                raise SandboxError(404, "The requested resource does not exist", code="NOT_FOUND")
            return self.json(self._with_attributes(request.params["version"], sobject, record, None))

    @route("PATCH", API + r"/composite/sobjects/(?P<sobject>\w+)/(?P<field>\w+)")
    def upsert_collection(self, request: Request) -> Response:
        sobject, field = request.params["sobject"], request.params["field"]
        payload = request.json()
        records = payload.get("records") or []
        if len(records) > COLLECTION_LIMIT:
            raise SandboxError(
                400, f"Maximum number of records ({COLLECTION_LIMIT}) exceeded", code="EXCEEDED_ID_LIMIT"
            )
        all_or_none = bool(payload.get("allOrNone"))
        results: list[dict[str, Any]] = []
        with self.lock:
            snapshot, effects = copy.deepcopy(self.tables[sobject]), self.effects.copy()
            for item in records:
                fields = {k: v for k, v in item.items() if k != "attributes"}
                try:
                    if field not in fields:
                        raise SandboxError(
                            400, f"Missing external id field {field}", code="REQUIRED_FIELD_MISSING"
                        )
                    record, created = self._upsert(sobject, field, str(fields.pop(field)), fields)
                except SandboxError as exc:
                    results.append(
                        {"success": False, "errors": [self._collection_error(exc.code, exc.message)]}
                    )
                    continue
                results.append({"id": record["Id"], "success": True, "errors": [], "created": created})
            if all_or_none and not all(r["success"] for r in results):
                # Roll the whole request back, as Salesforce does with allOrNone.
                self.tables[sobject], self.effects = snapshot, effects
                rolled_back = self._collection_error(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back."
                )
                results = [
                    r if not r["success"] else {"success": False, "errors": [rolled_back]} for r in results
                ]
        return self.json(results)

    @staticmethod
    def _collection_error(code: str, message: str) -> dict[str, Any]:
        return {"statusCode": code, "message": message, "fields": []}

    # Queries -------------------------------------------------------------------------------------
    def _run_query(self, soql: str, version: str) -> list[dict[str, Any]]:
        query = parse_soql(soql)
        sobject = query["object"]
        if sobject not in STANDARD_FIELDS:
            raise SandboxError(400, f"sObject type '{sobject}' is not supported.", code="INVALID_TYPE")
        known = (
            STANDARD_FIELDS[sobject]
            | self.CUSTOM_FIELDS.get(sobject, set())
            | SYSTEM_FIELDS
            | READ_ONLY_FIELDS.get(sobject, set())
        )
        names = query["fields"] + [c[0] for c in query["conditions"]] + [o[0] for o in query["order"]]
        for name in names:
            if name not in known:
                raise SandboxError(
                    400, f"No such column '{name}' on entity '{sobject}'.", code="INVALID_FIELD"
                )

        def value(record: dict[str, Any], name: str) -> Any:
            raw = record.get(name)
            return parse_sf_datetime(raw) if name in DATETIME_FIELDS and raw else raw

        rows = [
            r
            for r in self.tables[sobject].values()
            if all(_OPERATORS[op](value(r, name), literal) for name, op, literal in query["conditions"])
        ]

        def sort_key(name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
            return lambda record: (value(record, name) is None, value(record, name))

        for name, descending in reversed(query["order"]):  # stable sorts, last key first
            rows.sort(key=sort_key(name), reverse=descending)
        if query["limit"] is not None:
            rows = rows[: query["limit"]]
        return [self._with_attributes(version, sobject, r, query["fields"]) for r in rows]

    def _query_page(self, version: str, locator: str, rows: list[dict[str, Any]], offset: int) -> Response:
        page = rows[offset : offset + self.query_batch_size]
        done = offset + len(page) >= len(rows)
        body: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": page}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{offset + len(page)}"
        return self.json(body)

    @route("GET", API + r"/query/?")
    def query(self, request: Request) -> Response:
        soql = request.arg("q")
        if not soql:
            raise _malformed("A query string has to be specified")
        version = request.params["version"]
        with self.lock:
            rows = self._run_query(soql, version)
            locator = f"01g{self.next_id('query-locator'):012d}AAA"
            self._cursors[locator] = rows
        return self._query_page(version, locator, rows, 0)

    @route("GET", API + r"/query/(?P<locator>\w+)-(?P<offset>\d+)")
    def query_more(self, request: Request) -> Response:
        with self.lock:
            rows = self._cursors.get(request.params["locator"])
        if rows is None:
            raise SandboxError(400, "invalid query locator", code="INVALID_QUERY_LOCATOR")
        return self._query_page(
            request.params["version"], request.params["locator"], rows, int(request.params["offset"])
        )

    # Sales Engagement ----------------------------------------------------------------------------
    @route("POST", API + r"/actions/standard/assignTargetToSalesCadence")
    def assign_target_to_cadence(self, request: Request) -> Response:
        outcomes = []
        with self.lock:
            for item in request.json().get("inputs") or []:
                outcomes.append(self._assign_to_cadence(item))
        return self.json(outcomes)

    def _assign_to_cadence(self, item: dict[str, Any]) -> dict[str, Any]:
        def failed(code: str, message: str) -> dict[str, Any]:
            return {
                "actionName": "assignTargetToSalesCadence",
                "errors": [{"statusCode": code, "message": message, "fields": []}],
                "isSuccess": False,
                "outputValues": None,
            }

        cadence_ref, target_id = str(item.get("salesCadenceNameOrId", "")), str(item.get("targetId", ""))
        cadence = next(
            (c for c in self.tables["ActionCadence"].values() if cadence_ref in (c["Id"], c.get("Name"))),
            None,
        )
        if cadence is None:
            return failed("INVALID_INPUT", f"No sales cadence found for {cadence_ref}")
        if not any(target_id in self.tables[kind] for kind in ("Lead", "Contact")):
            return failed("INVALID_INPUT", f"Target {target_id} is not a lead, contact or person account")
        running = [
            t
            for t in self.tables["ActionCadenceTracker"].values()
            if t["TargetId"] == target_id and t["State"] == "Running"
        ]
        if running:
            return failed("INVALID_OPERATION", "The target is already assigned to a sales cadence")
        self._insert(
            "ActionCadenceTracker",
            {
                "ActionCadenceId": cadence["Id"],
                "TargetId": target_id,
                "State": "Running",
                "OwnerId": item.get("userId"),
            },
        )
        self.effect("create", "ActionCadenceTracker")
        return {
            "actionName": "assignTargetToSalesCadence",
            "errors": None,
            "isSuccess": True,
            "outputValues": None,
        }
