"""Salesforce through simple-salesforce: leads, contacts, accounts, tasks and cadence enrolment.

Configuration (``ConnectionConfig``): ``base_url`` is the instance URL (``https://acme.my.salesforce.com``,
or the sandbox's ``http://127.0.0.1:PORT``); ``credentials["access_token"]`` an OAuth access token
(Salesforce's session id). ``options`` may set ``api_version`` (default 59.0),
``external_id_field`` (the External ID field upserts key on, default ``AgentOps_External_Id__c``),
``marker_field`` (the custom Task field carrying our idempotency key, default
``AgentOps_Marker__c``), ``fields`` (``{kind: [field, …]}`` read by ``changed_since``) and
``extra_fields`` (``{kind: [field, …]}`` read besides those: what the outcome mapping needs).

Where our idempotency key lives: an upsert keys on the External ID field (repeatable by nature); a
task stores the key in ``marker_field``, so ``find_by_marker("task", key)`` finds an earlier
attempt; an owner change is a plain update (repeatable). Cadence enrolment uses the standard
``assignTargetToSalesCadence`` action, which takes no custom field: Salesforce itself refuses a
second enrolment of a target already running a cadence, so a repeat finds the running
``ActionCadenceTracker`` and reports ``created=False`` instead of enrolling twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from simple_salesforce import Salesforce, SalesforceError, SFType
from simple_salesforce.format import format_external_id, format_soql

from connectors.base import ConnectionConfig, Connector, ConnectorError, Page, Record, WriteResult
from connectors.crm import connection_error, error_for_status, none_if_not_found, timeout_error
from connectors.registry import register

SOBJECTS = {"lead": "Lead", "contact": "Contact", "account": "Account", "task": "Task"}
#: Engagement and deal records (``connectors.signals``): calls are Tasks, meetings Events.
SIGNAL_SOBJECTS = {"email": "EmailMessage", "meeting": "Event", "call": "Task", "deal": "Opportunity"}
SOBJECTS.update(SIGNAL_SOBJECTS)
#: Where the leads and contacts a record is about go in ``Record.fields`` when they are not a field
#: of its own: an email's recipients and sender (``EmailMessageRelation``), an opportunity's
#: contact roles (``OpportunityContactRole``); read once per page.
ASSOCIATED_WHO_IDS = "associatedWhoIds"
_LINK_QUERIES = {
    "email": ("SELECT EmailMessageId, RelationId FROM EmailMessageRelation WHERE EmailMessageId IN {}"),
    "deal": "SELECT OpportunityId, ContactId FROM OpportunityContactRole WHERE OpportunityId IN {}",
}
#: sObject Collections accept at most 200 records per request.
COLLECTION_SIZE = 200
DEFAULT_EXTERNAL_ID_FIELD = "AgentOps_External_Id__c"
DEFAULT_MARKER_FIELD = "AgentOps_Marker__c"


class _Session(requests.Session):
    """Puts the connection's timeout on every call and remembers each thread's last answer.

    simple-salesforce always builds ``https://{instance}/…``; for an ``http://`` base URL (the
    sandbox on 127.0.0.1) those URLs are sent to the same host over plain HTTP instead.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout
        parts = urlsplit(base_url)
        self._rewrite = (
            (f"https://{parts.netloc}", f"http://{parts.netloc}") if parts.scheme == "http" else None
        )
        self._local = threading.local()

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        url = str(url)
        if self._rewrite is not None and url.startswith(self._rewrite[0]):
            url = self._rewrite[1] + url[len(self._rewrite[0]) :]
        response = super().request(method, url, *args, **kwargs)
        self._local.last = response
        return response

    def last_headers(self) -> Mapping[str, str]:
        last = getattr(self._local, "last", None)
        return last.headers if last is not None else {}


def _parse_datetime(value: str | None) -> datetime | None:
    """Salesforce's ``2024-05-01T12:00:00.000+0000``."""
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


@register
class SalesforceConnector(Connector):
    """Salesforce CRM (see the module docstring for configuration and where markers live)."""

    vendor = "salesforce"
    kinds = ("lead", "contact", "account", "task", *SIGNAL_SOBJECTS)

    DEFAULT_FIELDS: Mapping[str, Sequence[str]] = {
        "lead": (
            "Id",
            "FirstName",
            "LastName",
            "Company",
            "Email",
            "Status",
            "OwnerId",
            "SystemModstamp",
            # What a converted lead became: its calls, meetings and deals name these.
            "ConvertedContactId",
            "ConvertedOpportunityId",
        ),
        "contact": ("Id", "FirstName", "LastName", "Email", "AccountId", "OwnerId", "SystemModstamp"),
        "account": ("Id", "Name", "Industry", "Website", "OwnerId", "SystemModstamp"),
        "task": ("Id", "Subject", "Description", "Status", "WhoId", "WhatId", "OwnerId", "SystemModstamp"),
        "email": (
            "Id",
            "Subject",
            "MessageDate",
            "Incoming",
            "Status",
            "IsBounced",
            "FirstOpenedDate",
            "CreatedDate",
            "SystemModstamp",
        ),
        "meeting": ("Id", "Subject", "WhoId", "StartDateTime", "CreatedDate", "SystemModstamp"),
        "call": (
            "Id",
            "Subject",
            "WhoId",
            "TaskSubtype",
            "CallDisposition",
            "CallDurationInSeconds",
            "CompletedDateTime",
            "CreatedDate",
            "SystemModstamp",
        ),
        "deal": ("Id", "Name", "StageName", "Amount", "CloseDate", "IsWon", "IsClosed", "SystemModstamp"),
    }

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config)
        options = config.options
        self.external_id_field = str(options.get("external_id_field", DEFAULT_EXTERNAL_ID_FIELD))
        self.marker_field = str(options.get("marker_field", DEFAULT_MARKER_FIELD))
        self._session = _Session(config.base_url, config.timeout_seconds)
        self._client = Salesforce(
            instance_url=config.base_url,
            session_id=config.credentials.get("access_token", ""),
            session=self._session,
            version=str(options.get("api_version", "59.0")),
        )

    # Plumbing ------------------------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate simple-salesforce's and requests' exceptions into ``ConnectorError``."""
        try:
            yield
        except SalesforceError as exc:
            content: Any = exc.content
            first: dict[str, Any] = (
                content[0] if isinstance(content, list) and content and isinstance(content[0], dict) else {}
            )
            vendor_code = str(first.get("errorCode", ""))
            message = f"{vendor_code}: {first.get('message', content)}" if first else str(content)
            # Salesforce answers its API limits with 403 REQUEST_LIMIT_EXCEEDED, not 429.
            code = "rate_limited" if vendor_code == "REQUEST_LIMIT_EXCEEDED" else None
            raise error_for_status(exc.status, message, self._session.last_headers(), code=code) from exc
        except requests.Timeout as exc:
            raise timeout_error(exc) from exc
        except requests.ConnectionError as exc:
            raise connection_error(exc) from exc
        except requests.RequestException as exc:
            raise ConnectorError(f"request failed: {exc}", retryable=False, code="invalid") from exc

    def _type(self, sobject: str) -> SFType:
        return cast(SFType, getattr(self._client, sobject))

    def _sobject(self, kind: str) -> str:
        try:
            return SOBJECTS[kind]
        except KeyError:
            raise self._unsupported(f"kind {kind}") from None

    def _fields(self, kind: str) -> list[str]:
        configured = self.config.options.get("fields", {}).get(kind)
        names = list(configured or self.DEFAULT_FIELDS[kind])
        extra = self.marker_field if kind == "task" else self.external_id_field
        also = self.config.options.get("extra_fields", {}).get(kind, ())
        wanted = [*([] if kind in SIGNAL_SOBJECTS else [extra]), "SystemModstamp", *also]
        return names + [name for name in dict.fromkeys(wanted) if name not in names]

    def _record(self, kind: str, data: Mapping[str, Any]) -> Record:
        fields = {k: v for k, v in data.items() if k != "attributes"}
        external_id = fields.get(self.external_id_field) if kind != "task" else None
        return Record(
            kind=kind,
            vendor_id=str(fields["Id"]),
            fields=fields,
            modified_at=_parse_datetime(fields.get("SystemModstamp")),
            external_id=str(external_id) if external_id is not None else None,
        )

    def _query(self, soql: str) -> dict[str, Any]:
        with self._errors():
            return dict(self._client.query(soql))

    # Reads ---------------------------------------------------------------------------------------
    def read(self, kind: str, vendor_id: str) -> Record:
        sobject = self._sobject(kind)
        with self._errors():
            data = self._type(sobject).get(vendor_id)
        return self._record(kind, data)

    def changed_since(self, kind: str, *, since: datetime | None, cursor: str | None = None) -> Page:
        """``SystemModstamp > since`` oldest first; the cursor is Salesforce's ``nextRecordsUrl``.

        SOQL datetimes have whole seconds, so records modified within ``since``'s second come again.
        """
        sobject = self._sobject(kind)
        if cursor is not None:
            with self._errors():
                result = dict(self._client.query_more(cursor, identifier_is_url=True))
        else:
            where = format_soql(" WHERE SystemModstamp > {}", since) if since is not None else ""
            result = self._query(
                format_soql(
                    "SELECT {:literal} FROM {:literal}{:literal} ORDER BY SystemModstamp ASC, Id ASC",
                    ", ".join(self._fields(kind)),
                    sobject,
                    where,
                )
            )
        records = [self._record(kind, row) for row in result.get("records", [])]
        if kind in _LINK_QUERIES and records:
            records = self._with_links(kind, records)
        next_cursor = None if result.get("done", True) else result.get("nextRecordsUrl")
        return Page(records=records, next_cursor=next_cursor)

    def _with_links(self, kind: str, records: Sequence[Record]) -> list[Record]:
        """``records`` with the lead and contact ids they are about (one query for the page)."""
        soql = _LINK_QUERIES[kind].format(
            "(" + ", ".join(format_soql("{}", record.vendor_id) for record in records) + ")"
        )
        links: dict[str, list[str]] = {}
        for row in self._query(soql).get("records", []):
            values = [v for k, v in row.items() if k != "attributes"]
            links.setdefault(str(values[0])[:15], []).append(str(values[1]))
        return [
            replace(
                record, fields={**record.fields, ASSOCIATED_WHO_IDS: links.get(record.vendor_id[:15], [])}
            )
            for record in records
        ]

    def find_by_marker(self, kind: str, marker: str) -> Record | None:
        """A task by its marker field; a lead, contact or account by its External ID."""
        sobject = self._sobject(kind)
        if kind == "task":
            soql = format_soql(
                "SELECT {:literal} FROM Task WHERE {:literal} = {} ORDER BY CreatedDate ASC LIMIT 1",
                ", ".join(self._fields(kind)),
                self.marker_field,
                marker,
            )
            rows = self._query(soql).get("records", [])
            return self._record(kind, rows[0]) if rows else None
        data = none_if_not_found(lambda: self._get_by_external_id(sobject, marker))
        return None if data is None else self._record(kind, data)

    def _get_by_external_id(self, sobject: str, value: str) -> dict[str, Any]:
        with self._errors():
            return dict(self._type(sobject).get_by_custom_id(self.external_id_field, value))

    # Writes --------------------------------------------------------------------------------------
    def upsert(
        self, kind: str, *, id_property: str, records: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """Upsert on the External ID field ``id_property``: one record through the sObject upsert,
        more through sObject Collections (200 per request, all-or-none per request)."""
        sobject = self._sobject(kind)
        if len(records) == 1:
            return [self._upsert_one(sobject, id_property, records[0])]
        results: list[WriteResult] = []
        for start in range(0, len(records), COLLECTION_SIZE):
            results += self._upsert_collection(sobject, id_property, records[start : start + COLLECTION_SIZE])
        return results

    def _upsert_one(self, sobject: str, id_property: str, record: Mapping[str, Any]) -> WriteResult:
        value = str(record[id_property])
        body = {k: v for k, v in record.items() if k != id_property}
        with self._errors():
            response = self._type(sobject).upsert(
                format_external_id(id_property, value), body, raw_response=True
            )
            if response.status_code == 204:  # API versions before 46.0 answer an update without a body
                vendor_id = self._type(sobject).get_by_custom_id(id_property, value)["Id"]
                return WriteResult(vendor_id=vendor_id, created=False, marker=value)
            data = response.json()
        return WriteResult(vendor_id=data["id"], created=bool(data.get("created")), marker=value)

    def _upsert_collection(
        self, sobject: str, id_property: str, records: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        payload = {"allOrNone": True, "records": [{"attributes": {"type": sobject}, **r} for r in records]}
        with self._errors():
            answer = self._client.restful(
                f"composite/sobjects/{sobject}/{id_property}", method="PATCH", json=payload
            )
        outcomes = list(answer or [])
        failures = [
            f"{records[i][id_property]}: {e.get('statusCode')} {e.get('message')}"
            for i, outcome in enumerate(outcomes)
            if not outcome.get("success")
            for e in outcome.get("errors") or []
            if e.get("statusCode") != "ALL_OR_NONE_OPERATION_ROLLED_BACK"
        ]
        if failures or len(outcomes) != len(records):
            raise ConnectorError(
                f"upsert of {len(records)} {sobject} records rolled back: {'; '.join(failures)}"[:500],
                retryable=False,
                status=200,
                code="invalid",
            )
        return [
            WriteResult(vendor_id=o["id"], created=bool(o.get("created")), marker=str(r[id_property]))
            for o, r in zip(outcomes, records, strict=True)
        ]

    def assign_owner(self, kind: str, vendor_id: str, *, owner_id: str, marker: str) -> WriteResult:
        sobject = self._sobject(kind)
        with self._errors():
            self._type(sobject).update(vendor_id, {"OwnerId": owner_id})
        return WriteResult(vendor_id=vendor_id, created=False, marker=marker)

    def create_task(
        self, *, about_kind: str, about_id: str, subject: str, body: str, marker: str
    ) -> WriteResult:
        """A Task on a lead or contact (``WhoId``) or an account (``WhatId``), carrying ``marker``."""
        about = "WhatId" if about_kind == "account" else "WhoId"
        fields = {"Subject": subject, "Description": body, "Status": "Not Started", about: about_id}
        with self._errors():
            data = self._type("Task").create({**fields, self.marker_field: marker})
        return WriteResult(vendor_id=data["id"], created=True, marker=marker)

    def enrol_in_sequence(
        self, *, contact_id: str, sequence_id: str, sender_id: str, marker: str
    ) -> WriteResult:
        """Assign a lead or contact to the cadence ``sequence_id`` (its Id), sent by user ``sender_id``."""
        inputs = [{"salesCadenceNameOrId": sequence_id, "targetId": contact_id, "userId": sender_id}]
        with self._errors():
            answer = self._client.restful(
                "actions/standard/assignTargetToSalesCadence", method="POST", json={"inputs": inputs}
            )
        outcome = (answer or [{}])[0]
        tracker = self._running_cadence(contact_id)
        if outcome.get("isSuccess") and tracker is not None:
            return WriteResult(vendor_id=tracker["Id"], created=True, marker=marker)
        if tracker is not None and tracker["ActionCadenceId"][:15] == sequence_id[:15]:
            return WriteResult(vendor_id=tracker["Id"], created=False, marker=marker)  # enrolled earlier
        errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in outcome.get("errors") or [])
        raise ConnectorError(f"cadence enrolment refused: {errors}"[:500], retryable=False, code="invalid")

    def _running_cadence(self, target_id: str) -> dict[str, Any] | None:
        soql = format_soql(
            "SELECT Id, ActionCadenceId, TargetId, State FROM ActionCadenceTracker"
            " WHERE TargetId = {} AND State = 'Running' ORDER BY CreatedDate DESC LIMIT 1",
            target_id,
        )
        rows = self._query(soql).get("records", [])
        return dict(rows[0]) if rows else None
