"""Zendesk Support through zenpy: tickets and users in, public replies, internal notes and status out.

Our idempotency key travels as a ticket tag, ``agentops-<marker>``, added with ``additional_tags``
in the same ticket update as the comment or status change, so the tag exists exactly when the
write does; ``find_by_marker`` searches for it. Zendesk's search index lags writes by seconds to
minutes, so the execution layer should not retry a write with an unknown outcome sooner than that.

zenpy always builds ``https://{subdomain}.{domain}/api/v2`` except where the environment variables
``ZENPY_FORCE_SCHEME`` and ``ZENPY_FORCE_NETLOC`` say otherwise; it reads them on every request
(``BaseApi._build_url``). They are process-wide, so each call here sets both to this connection's
base URL under one lock and restores them afterwards: two connections in one process (the sandbox
and a real account) never see each other's address, at the cost of one Zendesk call at a time per
process. Pagination is never left to zenpy's lazy generators, which would request outside the lock.

A ticket's ``satisfaction_rating`` (legacy CSAT: ``{id, score, comment}``, score ``good`` or ``bad``
once the requester rated) has no time of its own on the ticket. The incremental read adds the
rating's ``created_at`` and ``updated_at`` from the satisfaction ratings API (ratings changed since
the same ``since``, read once per sync run), so the rating keeps the vendor's time even when the
ticket changed again afterwards.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket
from zenpy.lib.exception import APIException, ZenpyException

from connectors import crm, helpdesk
from connectors.base import ConnectionConfig, Connector, ConnectorError, Page, Record, WriteResult
from connectors.registry import register

T = TypeVar("T")

_ENV_LOCK = threading.Lock()
_FORCE_VARS = ("ZENPY_FORCE_SCHEME", "ZENPY_FORCE_NETLOC")
_TAG_PREFIX = "agentops-"
#: The scores of a rating the requester gave (the others, "offered" and "unoffered", are no rating).
RATED = ("good", "bad")
#: Zendesk's ticket priorities.
ZENDESK_PRIORITIES = ("low", "normal", "high", "urgent")
_SAFE_MARKER = re.compile(r"[a-z0-9_-]{1,64}")


def marker_tag(marker: str) -> str:
    """The Zendesk tag for ``marker``: Zendesk lowercases tags and splits them on spaces, so a
    marker that is not already a safe lowercase token is hashed (deterministically) instead."""
    if _SAFE_MARKER.fullmatch(marker):
        return f"{_TAG_PREFIX}{marker}"
    return f"{_TAG_PREFIX}{hashlib.sha256(marker.encode()).hexdigest()[:40]}"


@contextmanager
def _zenpy_target(base_url: str) -> Iterator[None]:
    """Point zenpy at ``base_url`` for the duration of one call (see the module docstring)."""
    parts = urlsplit(base_url)
    with _ENV_LOCK:
        saved = {name: os.environ.get(name) for name in _FORCE_VARS}
        os.environ["ZENPY_FORCE_SCHEME"] = parts.scheme or "https"
        os.environ["ZENPY_FORCE_NETLOC"] = parts.netloc
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class _RateLimited(Exception):
    """Raised from the session's response hook on a 429, before zenpy would sleep and retry."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.text[:200])
        self.response = response


def _refuse_rate_limit(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    # zenpy sleeps out Retry-After and retries on its own; our executor owns retries and backoff.
    if response.status_code == 429:
        response.close()
        raise _RateLimited(response)
    return response


def _numeric_id(value: str) -> int:
    """Zendesk ids are integers; anything else is our caller's mistake, not a reason to retry."""
    if not str(value).isdigit():
        raise ConnectorError(f"not a Zendesk id: {value!r}", retryable=False, code="invalid")
    return int(value)


def _rating(fields: Mapping[str, Any]) -> dict[str, Any]:
    value = fields.get("satisfaction_rating")
    return value if isinstance(value, dict) else {}


def _first_page(results: Any) -> list[Any]:
    """The objects of the page zenpy already fetched, without letting its generator fetch more."""
    values = results.values if results.values is not None else results.process_page()
    return list(values or [])


@register
class ZendeskConnector(Connector):
    """A Zendesk Support account. Credentials: ``email`` and ``token`` (API token) or ``oauth_token``."""

    vendor = "zendesk"
    kinds = ("ticket", "contact")

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config)
        #: Ratings changed since a sync run's ``since``, by rating id (read once per run).
        self._ratings: dict[datetime | None, dict[str, dict[str, Any]]] = {}
        session = requests.Session()  # no zenpy adapter retries: retrying is the executor's job
        session.hooks["response"].append(_refuse_rate_limit)
        host = urlsplit(config.base_url).hostname or ""
        subdomain, _, domain = host.partition(".")
        creds = config.credentials
        self.client = Zenpy(
            subdomain=subdomain or "sandbox",
            domain=domain or "zendesk.com",
            email=creds.get("email"),
            token=creds.get("token"),
            oauth_token=creds.get("oauth_token"),
            session=session,
            timeout=config.timeout_seconds,
            disable_cache=True,  # a cached ticket would hide another agent's change
        )

    # Plumbing -----------------------------------------------------------------------------------
    def _call(self, action: Callable[[], T]) -> T:
        with _zenpy_target(self.config.base_url):
            try:
                return action()
            except _RateLimited as exc:
                raise helpdesk.error_for_status(429, exc.response.text, exc.response.headers) from exc
            except (APIException, requests.HTTPError) as exc:  # HTTPError: a non-JSON error body
                response = exc.response
                status = response.status_code if response is not None else 500
                headers = response.headers if response is not None else {}
                raise helpdesk.error_for_status(status, str(exc), headers) from exc
            except requests.Timeout as exc:
                raise crm.timeout_error(exc) from exc
            except requests.ConnectionError as exc:
                raise crm.connection_error(exc) from exc
            except ZenpyException as exc:  # an answer zenpy could not make sense of
                raise ConnectorError(f"zenpy: {exc}", retryable=False, code="invalid") from exc

    def _record(self, kind: str, obj: Any) -> Record:
        fields: dict[str, Any] = obj.to_dict()
        updated = fields.get("updated_at")
        modified = datetime.fromisoformat(updated.replace("Z", "+00:00")) if updated else None
        return Record(kind=kind, vendor_id=str(fields["id"]), fields=fields, modified_at=modified)

    def _check_kind(self, kind: str, operation: str) -> None:
        if kind not in self.kinds:
            raise self._unsupported(f"{operation} {kind}")

    def _update(self, ticket_id: str, marker: str, tags: Sequence[str] = (), **changes: Any) -> None:
        ticket = Ticket(id=_numeric_id(ticket_id))
        for name, value in changes.items():
            setattr(ticket, name, value)
        # Added in the same request as the change, so the marker exists exactly when the write does.
        ticket.additional_tags = [*tags, marker_tag(marker)]
        self._call(lambda: self.client.tickets.update(ticket))

    # Reads ----------------------------------------------------------------------------------------
    def read(self, kind: str, vendor_id: str) -> Record:
        self._check_kind(kind, "read")
        api = self.client.tickets if kind == "ticket" else self.client.users
        return self._record(kind, self._call(lambda: api(id=_numeric_id(vendor_id))))

    def changed_since(self, kind: str, *, since: datetime | None, cursor: str | None = None) -> Page:
        """One page of Zendesk's cursor-based incremental ticket export, oldest ``updated_at`` first."""
        if kind != "ticket":
            raise self._unsupported(f"incremental read of {kind}")

        def first_page() -> tuple[list[Any], Mapping[str, Any]]:
            if cursor:
                pages = self.client.tickets.incremental(cursor=cursor, per_page=helpdesk.PAGE_SIZE)
            else:
                pages = self.client.tickets.incremental(
                    start_time=helpdesk.unix(since), per_page=helpdesk.PAGE_SIZE
                )
            return _first_page(pages), pages._response_json

        tickets, meta = self._call(first_page)
        records = self._with_rating_times([self._record("ticket", t) for t in tickets], since)
        next_cursor = None if meta.get("end_of_stream") else meta.get("after_cursor")
        return Page(records=records, next_cursor=next_cursor)

    def _with_rating_times(self, records: list[Record], since: datetime | None) -> list[Record]:
        """``records`` with each received rating's ``created_at`` and ``updated_at`` (see the module
        docstring). A rating unchanged since ``since`` is not listed and keeps none: it was read before."""
        rated = [r for r in records if _rating(r.fields).get("score") in RATED]
        if not rated:
            return records
        if since not in self._ratings:
            listed = self._call(lambda: list(self.client.satisfaction_ratings(start_time=since)))
            self._ratings[since] = {str(rating.id): rating.to_dict() for rating in listed}
        ratings = self._ratings[since]
        timed = []
        for record in records:
            held = _rating(record.fields)
            found = ratings.get(str(held.get("id")))
            if found is not None and held.get("score") in RATED:
                times = {k: found.get(k) for k in ("created_at", "updated_at")}
                fields = {**record.fields, "satisfaction_rating": {**held, **times}}
                record = Record(
                    kind=record.kind,
                    vendor_id=record.vendor_id,
                    fields=fields,
                    modified_at=record.modified_at,
                )
            timed.append(record)
        return timed

    def find_by_marker(self, kind: str, marker: str) -> Record | None:
        """The ticket whose tags include our marker's tag, if a write carrying it took effect."""
        if kind != "ticket":
            raise self._unsupported(f"find {kind} by marker")
        tag = marker_tag(marker)
        results = self._call(lambda: _first_page(self.client.search(type="ticket", tags=tag)))
        for ticket in results:
            if tag in (ticket.tags or []):  # search is fuzzy; the tag itself is the proof
                return self._record("ticket", ticket)
        return None

    # Writes ---------------------------------------------------------------------------------------
    def post_public_reply(self, *, ticket_id: str, body: str, marker: str) -> WriteResult:
        self._update(ticket_id, marker, comment=Comment(body=body, public=True))
        return WriteResult(vendor_id=ticket_id, created=True, marker=marker)

    def add_internal_note(self, *, ticket_id: str, body: str, marker: str) -> WriteResult:
        self._update(ticket_id, marker, comment=Comment(body=body, public=False))
        return WriteResult(vendor_id=ticket_id, created=True, marker=marker)

    def hand_off(
        self,
        *,
        ticket_id: str,
        group_id: str | None,
        note: str,
        priority: str | None = None,
        tags: Sequence[str] = (),
        assignee_id: str | None = None,
        marker: str,
    ) -> WriteResult:
        """One ticket update: the private note, the group, the assignee, the priority and the tags
        together, so the agent who picks the ticket up finds the summary at once (and the marker
        proves all of it)."""
        changes: dict[str, Any] = {"comment": Comment(body=note, public=False)}
        if group_id:
            changes["group_id"] = _numeric_id(group_id)
        if assignee_id:
            changes["assignee_id"] = _numeric_id(assignee_id)
        if priority:
            if priority not in ZENDESK_PRIORITIES:
                raise ConnectorError(
                    f"Zendesk has no priority {priority!r} ({', '.join(ZENDESK_PRIORITIES)})",
                    retryable=False,
                    code="invalid",
                )
            changes["priority"] = priority
        self._update(ticket_id, marker, tags=tags, **changes)
        return WriteResult(vendor_id=ticket_id, created=False, marker=marker)

    def set_ticket_status(
        self, *, ticket_id: str, status: str | None = None, group_id: str | None = None, marker: str
    ) -> WriteResult:
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status
        if group_id is not None:
            changes["group_id"] = _numeric_id(group_id)
        if not changes:
            raise ConnectorError(
                "set_ticket_status needs a status or a group", retryable=False, code="invalid"
            )
        self._update(ticket_id, marker, **changes)
        return WriteResult(vendor_id=ticket_id, created=False, marker=marker)
