"""HubSpot through hubspot-api-client: contacts (our leads and contacts), companies, tasks, sequences.

Configuration (``ConnectionConfig``): ``base_url`` is the API host (``https://api.hubapi.com``, or
the sandbox's ``http://127.0.0.1:PORT``); ``credentials["access_token"]`` a private-app or OAuth
token. ``options`` may set ``external_id_property`` (the unique property ``find_by_marker`` reads
leads, contacts and companies by; default ``agentops_external_id``), ``marker_property`` (the task
property carrying our idempotency key; default ``agentops_marker``), ``properties``
(``{kind: [name, …]}`` to read), ``extra_fields`` (``{kind: [name, …]}`` read besides those: what
the outcome mapping needs) and ``search_result_limit`` (HubSpot's 10,000 per search).

Where our idempotency key lives: batch upserts key on ``idProperty`` (repeatable by nature); a
task stores it in ``marker_property``, found again with the search API; an owner change is a plain
property update. HubSpot refuses to enrol a contact already in a sequence, so a repeated enrolment
finds the contact's enrolment and reports ``created=False``. The SDK has no Sequences API, and its
generic ``api_request`` sends without a timeout, so enrolment goes through the generated client's
``call_api`` (same host, token, timeout and exceptions as every other call).

urllib3's own retries are off (``Retry(0, read=False)``): retrying is the execution layer's
decision, made knowing whether the call was a write.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4 import ApiException as AssociationsApiException
from hubspot.crm.objects import ApiException as ObjectsApiException
from hubspot.crm.objects import (
    AssociationSpec,
    Filter,
    FilterGroup,
    PublicAssociationsForObject,
    PublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.owners import ApiException as OwnersApiException
from urllib3.util.retry import Retry

from connectors.base import ConnectionConfig, Connector, ConnectorError, Page, Record, WriteResult
from connectors.crm import connection_error, error_for_status, none_if_not_found, timeout_error
from connectors.registry import register

OBJECT_TYPES = {"lead": "contacts", "contact": "contacts", "account": "companies", "task": "tasks"}
#: Engagement and deal records (``connectors.signals``), read with their associated contacts.
SIGNAL_OBJECT_TYPES = {"email": "emails", "meeting": "meetings", "deal": "deals"}
OBJECT_TYPES.update(SIGNAL_OBJECT_TYPES)
#: The modification-time property HubSpot keeps per object type.
MODIFIED_PROPERTY = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "tasks": "hs_lastmodifieddate",
    **{object_type: "hs_lastmodifieddate" for object_type in SIGNAL_OBJECT_TYPES.values()},
}
#: Where a record's associated contact ids go in ``Record.fields`` (beside its properties).
ASSOCIATED_CONTACTS = "associatedContactIds"
#: Association type ids from a task to a contact and to a company (HubSpot-defined).
TASK_TO = {"contacts": 204, "companies": 192}
BATCH_SIZE = 100
SEARCH_PAGE_SIZE = 100
DEFAULT_EXTERNAL_ID_PROPERTY = "agentops_external_id"
DEFAULT_MARKER_PROPERTY = "agentops_marker"

T = TypeVar("T")


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _parse_datetime(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@register
class HubSpotConnector(Connector):
    """HubSpot CRM (see the module docstring for configuration and where markers live)."""

    vendor = "hubspot"
    kinds = ("lead", "contact", "account", "task", *SIGNAL_OBJECT_TYPES)

    DEFAULT_PROPERTIES: Mapping[str, Sequence[str]] = {
        "contacts": (
            "email",
            "firstname",
            "lastname",
            "company",
            "jobtitle",
            "lifecyclestage",
            "hubspot_owner_id",
        ),
        "companies": ("name", "domain", "industry", "hubspot_owner_id"),
        "tasks": ("hs_task_subject", "hs_task_body", "hs_task_status", "hs_timestamp", "hubspot_owner_id"),
        "emails": (
            "hs_timestamp",
            "hs_email_direction",
            "hs_email_status",
            "hs_email_subject",
            "hs_email_open_count",
            "hs_email_click_count",
            "hubspot_owner_id",
        ),
        "meetings": (
            "hs_timestamp",
            "hs_createdate",
            "hs_meeting_title",
            "hs_meeting_start_time",
            "hs_meeting_outcome",
            "hubspot_owner_id",
        ),
        "deals": (
            "dealname",
            "dealstage",
            "pipeline",
            "amount",
            "closedate",
            "hs_is_closed",
            "hs_is_closed_won",
            "hs_is_closed_lost",
            "hubspot_owner_id",
        ),
    }

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config)
        options = config.options
        self.external_id_property = str(options.get("external_id_property", DEFAULT_EXTERNAL_ID_PROPERTY))
        self.marker_property = str(options.get("marker_property", DEFAULT_MARKER_PROPERTY))
        self.search_result_limit = int(options.get("search_result_limit", 10_000))
        client = HubSpot(
            access_token=config.credentials.get("access_token", ""),
            host=config.base_url.rstrip("/"),
            retry=Retry(0, read=False),
        )
        # Each discovery property builds a new API client (and connection pool): build them once.
        self._basic = client.crm.objects.basic_api
        self._batch = client.crm.objects.batch_api
        self._search = client.crm.objects.search_api
        self._owners = client.crm.owners.owners_api
        self._associations = client.crm.associations.v4.batch_api

    # Plumbing ------------------------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate the SDK's and urllib3's exceptions into ``ConnectorError``."""
        try:
            yield
        except (ObjectsApiException, OwnersApiException, AssociationsApiException) as exc:
            if not exc.status:
                raise connection_error(exc) from exc
            raise self._http_error(exc.status, exc.body, dict(exc.headers or {})) from exc
        except urllib3.exceptions.MaxRetryError as exc:
            # urllib3 makes a refused connection (NewConnectionError) a kind of connect timeout.
            reason = exc.reason
            if isinstance(reason, urllib3.exceptions.TimeoutError) and not isinstance(
                reason, urllib3.exceptions.NewConnectionError
            ):
                raise timeout_error(reason) from exc
            raise connection_error(reason or exc) from exc
        except urllib3.exceptions.TimeoutError as exc:
            raise timeout_error(exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise connection_error(exc) from exc

    @staticmethod
    def _http_error(status: int, body: Any, headers: Mapping[str, str]) -> ConnectorError:
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        message = f"{data.get('category', '')}: {data.get('message', body)}"
        if data.get("correlationId"):
            message += f" (correlation id {data['correlationId']})"
        return error_for_status(status, message, headers)

    def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call an SDK method with the connection's timeout, translating its failures."""
        with self._errors():
            return method(*args, _request_timeout=self.config.timeout_seconds, **kwargs)

    def _request(
        self, method: str, path: str, *, query: Sequence[tuple[str, str]] = (), body: Any = None
    ) -> Any:
        """A path the SDK has no typed API for, through its generated client (see the module docstring)."""
        with self._errors():
            response = self._basic.api_client.call_api(
                path,
                method,
                query_params=list(query),
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                auth_settings=["oauth2"],
                response_types_map={},
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=self.config.timeout_seconds,
            )
        return json.loads(response.data) if response.data else None

    def _object_type(self, kind: str) -> str:
        try:
            return OBJECT_TYPES[kind]
        except KeyError:
            raise self._unsupported(f"kind {kind}") from None

    def _properties(self, kind: str, object_type: str) -> list[str]:
        configured = self.config.options.get("properties", {}).get(kind)
        names = list(configured or self.DEFAULT_PROPERTIES[object_type])
        extra = self.marker_property if object_type == "tasks" else self.external_id_property
        also = self.config.options.get("extra_fields", {}).get(kind, ())
        wanted = [extra, MODIFIED_PROPERTY[object_type], *also]
        return names + [name for name in dict.fromkeys(wanted) if name not in names]

    def _record(self, kind: str, obj: Any, contacts: Sequence[str] | None = None) -> Record:
        properties: dict[str, Any] = dict(obj.properties or {})
        if kind in SIGNAL_OBJECT_TYPES:
            if contacts is None:
                associated = (getattr(obj, "associations", None) or {}).get("contacts")
                contacts = [str(a.id) for a in (associated.results if associated else [])]
            properties[ASSOCIATED_CONTACTS] = list(contacts)
        modified = _parse_datetime(properties.get(MODIFIED_PROPERTY[OBJECT_TYPES[kind]])) or obj.updated_at
        external_id = properties.get(self.external_id_property) if kind != "task" else None
        return Record(
            kind=kind,
            vendor_id=str(obj.id),
            fields=properties,
            modified_at=modified,
            external_id=external_id or None,
        )

    # Reads ---------------------------------------------------------------------------------------
    def read(self, kind: str, vendor_id: str) -> Record:
        object_type = self._object_type(kind)
        also = {"associations": ["contacts"]} if kind in SIGNAL_OBJECT_TYPES else {}
        obj = self._call(
            self._basic.get_by_id,
            object_type,
            vendor_id,
            properties=self._properties(kind, object_type),
            **also,
        )
        return self._record(kind, obj)

    def _associated_contacts(self, object_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """Each record's associated contact ids, one v4 batch read for a page (search returns none)."""
        if not ids:
            return {}
        body = {"inputs": [{"id": record_id} for record_id in ids]}
        response = self._call(
            self._associations.get_page, object_type, "contacts", body, _preload_content=False
        )
        answer = json.loads(response.data) if response.data else {}
        return {
            str(row["from"]["id"]): [str(to["toObjectId"]) for to in row.get("to") or []]
            for row in answer.get("results") or []
        }

    def changed_since(self, kind: str, *, since: datetime | None, cursor: str | None = None) -> Page:
        """Search by the modification property, oldest first, 100 per page.

        The cursor is ``"<operator>:<epoch ms>:<after>"``. HubSpot stops a search at 10,000 results,
        so near that depth the next page starts a new search from the last record's time
        (``GTE``: records sharing that millisecond come again; callers deduplicate by id).
        """
        object_type = self._object_type(kind)
        modified = MODIFIED_PROPERTY[object_type]
        if cursor:
            operator, since_ms, after = cursor.split(":")
        else:
            operator, since_ms, after = "GT", str(_millis(since)) if since else "", "0"
        filters = [Filter(property_name=modified, operator=operator, value=since_ms)] if since_ms else []
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)] if filters else [],
            sorts=[{"propertyName": modified, "direction": "ASCENDING"}],
            properties=self._properties(kind, object_type),
            limit=SEARCH_PAGE_SIZE,
            after=after,
        )
        answer = self._call(self._search.do_search, object_type, request)
        contacts: dict[str, list[str]] = {}
        if kind in SIGNAL_OBJECT_TYPES:
            contacts = self._associated_contacts(object_type, [str(obj.id) for obj in answer.results])
        records = [
            self._record(kind, obj, contacts.get(str(obj.id), []) if kind in SIGNAL_OBJECT_TYPES else None)
            for obj in answer.results
        ]
        following = answer.paging.next.after if answer.paging and answer.paging.next else None
        next_cursor = None
        if following is not None:
            if int(following) + SEARCH_PAGE_SIZE <= self.search_result_limit:
                next_cursor = f"{operator}:{since_ms}:{following}"
            elif records and records[-1].modified_at is not None:
                next_cursor = f"GTE:{_millis(records[-1].modified_at)}:0"
        return Page(records=records, next_cursor=next_cursor)

    def find_by_marker(self, kind: str, marker: str) -> Record | None:
        """A task by its marker property (search); a contact or company by its external id property."""
        object_type = self._object_type(kind)
        if object_type == "tasks":
            request = PublicObjectSearchRequest(
                filter_groups=[
                    FilterGroup(
                        filters=[Filter(property_name=self.marker_property, operator="EQ", value=marker)]
                    )
                ],
                sorts=[{"propertyName": "hs_createdate", "direction": "ASCENDING"}],
                properties=self._properties(kind, object_type),
                limit=1,
            )
            answer = self._call(self._search.do_search, object_type, request)
            return self._record(kind, answer.results[0]) if answer.results else None
        obj = none_if_not_found(
            lambda: self._call(
                self._basic.get_by_id,
                object_type,
                marker,
                id_property=self.external_id_property,
                properties=self._properties(kind, object_type),
            )
        )
        return None if obj is None else self._record(kind, obj)

    # Writes --------------------------------------------------------------------------------------
    def upsert(
        self, kind: str, *, id_property: str, records: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """Batch upsert by the unique property ``id_property``, 100 inputs per request."""
        object_type = self._object_type(kind)
        results: list[WriteResult] = []
        for start in range(0, len(records), BATCH_SIZE):
            results += self._upsert_batch(object_type, id_property, records[start : start + BATCH_SIZE])
        return results

    def _upsert_batch(
        self, object_type: str, id_property: str, records: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        keys = [str(record[id_property]) for record in records]
        # Plain JSON in and out: the SDK's model objects (a deep-copied configuration per input, a
        # dateutil parse per timestamp) cost more CPU than the rest of a 100-record upsert together.
        body = {
            "inputs": [
                {
                    "id": key,
                    "idProperty": id_property,
                    "properties": {
                        k: "" if v is None else str(v) for k, v in record.items() if k != id_property
                    },
                }
                for key, record in zip(keys, records, strict=True)
            ]
        }
        response = self._call(self._batch.upsert, object_type, body, _preload_content=False)
        answer = json.loads(response.data)
        errors = answer.get("errors") or []
        if errors:
            details = "; ".join(f"{e.get('category')}: {e.get('message')}" for e in errors)
            raise ConnectorError(
                f"batch upsert partly failed: {details}"[:500], retryable=False, code="invalid"
            )
        # HubSpot does not promise the inputs' order: match results by the upsert key.
        by_key = {
            str((obj.get("properties") or {}).get(id_property)): obj for obj in answer.get("results") or []
        }
        missing = [key for key in keys if key not in by_key]
        if missing:
            raise ConnectorError(
                f"batch upsert returned no result for {missing[:5]}", retryable=False, code="invalid"
            )
        return [
            WriteResult(vendor_id=str(by_key[key]["id"]), created=bool(by_key[key].get("new")), marker=key)
            for key in keys
        ]

    def assign_owner(self, kind: str, vendor_id: str, *, owner_id: str, marker: str) -> WriteResult:
        object_type = self._object_type(kind)
        update = SimplePublicObjectInput(properties={"hubspot_owner_id": owner_id})
        self._call(self._basic.update, object_type, vendor_id, update)
        return WriteResult(vendor_id=vendor_id, created=False, marker=marker)

    def create_task(
        self, *, about_kind: str, about_id: str, subject: str, body: str, marker: str
    ) -> WriteResult:
        """A task associated with the contact or company ``about_id``, carrying ``marker``."""
        to_type = self._object_type(about_kind)
        if to_type not in TASK_TO:
            raise self._unsupported(f"task about {about_kind}")
        association = PublicAssociationsForObject(
            to=PublicObjectId(id=about_id),
            types=[
                AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=TASK_TO[to_type])
            ],
        )
        properties = {
            "hs_task_subject": subject,
            "hs_task_body": body,
            "hs_task_status": "NOT_STARTED",
            "hs_timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            self.marker_property: marker,
        }
        task = self._call(
            self._basic.create,
            "tasks",
            SimplePublicObjectInputForCreate(properties=properties, associations=[association]),
        )
        return WriteResult(vendor_id=str(task.id), created=True, marker=marker)

    def enrol_in_sequence(
        self, *, contact_id: str, sequence_id: str, sender_id: str, marker: str
    ) -> WriteResult:
        """Enrol contact ``contact_id`` in ``sequence_id``, sent by HubSpot user ``sender_id`` (a user id)."""
        sender = self._call(self._owners.get_by_id, sender_id, id_property="userId")
        query = [("userId", sender_id)]
        body = {"sequenceId": sequence_id, "contactId": contact_id, "senderEmail": sender.email}
        try:
            enrolment = self._request("POST", "/automation/v4/sequences/enrollments", query=query, body=body)
        except ConnectorError as refused:
            if refused.code != "invalid":
                raise
            existing = self._enrolment_of(contact_id, sender_id)
            if existing is None or str(existing.get("sequenceId")) != sequence_id:
                raise
            return WriteResult(
                vendor_id=str(existing["id"]), created=False, marker=marker
            )  # enrolled earlier
        return WriteResult(vendor_id=str(enrolment["id"]), created=True, marker=marker)

    def _enrolment_of(self, contact_id: str, sender_id: str) -> dict[str, Any] | None:
        path = f"/automation/v4/sequences/enrollments/contact/{contact_id}"
        return none_if_not_found(lambda: dict(self._request("GET", path, query=[("userId", sender_id)])))
