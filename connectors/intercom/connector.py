"""Intercom through python-intercom 5 (the official generated SDK): conversations and contacts in,
admin replies, notes, state and team assignment out.

Intercom has no field of its own for our idempotency key on a reply, and replying and setting a
conversation attribute are two calls, so the key is kept in two places that together make a
retry safe:

1. a *locator*: the key is put first in the conversation custom attribute ``agentops_marker``
   (the eight most recent keys, space-separated) before the write, so ``find_by_marker`` can
   search for the conversation (Intercom searches custom attributes with "contains");
2. the *proof*: the reply or note itself ends with ``<!-- agentops:KEY -->``, a hidden HTML comment
   in the part body that the API returns and customers never see. It is written in the same call
   as the reply, so it exists exactly when the reply does.

``find_by_marker`` returns a conversation only when a part carries the proof. If the process dies
between the two calls, the locator points at a conversation without the proof, the write is
reported as not done, and the retry sends it once. A status or team change is idempotent in
itself; it is followed by an internal note carrying the proof, so it is found the same way.
The locator is read, then written: two writes racing on one conversation could drop a key, so the
executor should run one action per ticket at a time (a dropped key can only cause a duplicate after
an unknown outcome, never a lost write).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import httpx
from intercom import (
    AdminReplyConversationRequest,
    ConversationsManageRequestBody_Assignment,
    ConversationsManageRequestBody_Close,
    ConversationsManageRequestBody_Open,
    ConversationsManageRequestBody_Snoozed,
    Intercom,
    SingleFilterSearchRequest,
    StartingAfterPaging,
)
from intercom.core.api_error import ApiError

from connectors import crm, helpdesk
from connectors.base import ConnectionConfig, Connector, ConnectorError, Page, Record, WriteResult
from connectors.registry import register

T = TypeVar("T")

#: The conversation data attribute that locates our writes (create it once in the workspace).
MARKER_ATTRIBUTE = "agentops_marker"
#: How many recent markers the locator keeps, within Intercom's 255 characters for a string attribute.
LOCATOR_KEEP = 8
LOCATOR_MAX_CHARS = 255
#: The API version whose shapes this connector and the sandbox speak.
API_VERSION = "2.11"
#: How long ``status="snoozed"`` snoozes, unless the connection's options say ``snooze_seconds``.
DEFAULT_SNOOZE_SECONDS = 24 * 3600


_SAFE_MARKER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def marker_token(marker: str) -> str:
    """``marker`` as one word safe in the locator and inside an HTML comment (no spaces, no ``--``);
    any other marker is hashed, deterministically."""
    if _SAFE_MARKER.fullmatch(marker) and "--" not in marker:
        return marker
    return hashlib.sha256(marker.encode()).hexdigest()[:40]


def marker_comment(marker: str) -> str:
    """The hidden proof appended to a part body."""
    return f"<!-- agentops:{marker_token(marker)} -->"


@register
class IntercomConnector(Connector):
    """An Intercom workspace. Credentials: ``token`` (an access token) and ``admin_id`` (who writes)."""

    vendor = "intercom"
    kinds = ("ticket", "contact")

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config)
        self.admin_id = config.credentials.get("admin_id", "")
        self.client = Intercom(
            token=config.credentials.get("token", ""),
            base_url=config.base_url.rstrip("/"),
            headers={"Intercom-Version": API_VERSION},
            timeout=config.timeout_seconds,
        )

    # Plumbing -----------------------------------------------------------------------------------
    def _call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except ApiError as exc:  # NotFoundError, UnauthorizedError … are ApiErrors with a status
            raise helpdesk.error_for_status(exc.status_code or 500, str(exc.body), exc.headers) from exc
        except httpx.TimeoutException as exc:
            raise crm.timeout_error(exc) from exc
        except httpx.TransportError as exc:  # refused, reset or dropped without an answer
            raise crm.connection_error(exc) from exc

    def _record(self, kind: str, obj: Any) -> Record:
        fields: dict[str, Any] = obj.dict()
        return Record(
            kind=kind,
            vendor_id=str(fields["id"]),
            fields=fields,
            modified_at=helpdesk.from_unix(fields.get("updated_at")),
        )

    def _admin(self) -> str:
        if not self.admin_id:
            raise ConnectorError(
                "the connection has no admin_id to write as", retryable=False, code="invalid"
            )
        return self.admin_id

    def _locate(self, conversation_id: str, marker: str) -> None:
        """Put ``marker`` first in the conversation's locator, keeping the most recent others."""
        current = self._call(lambda: self.client.conversations.find(conversation_id))
        held = str((current.custom_attributes or {}).get(MARKER_ATTRIBUTE) or "").split()
        token = marker_token(marker)
        markers = [token, *(m for m in held if m != token)][:LOCATOR_KEEP]
        while len(" ".join(markers)) > LOCATOR_MAX_CHARS and len(markers) > 1:
            markers.pop()
        value = " ".join(markers)
        self._call(
            lambda: self.client.conversations.update(
                conversation_id, custom_attributes={MARKER_ATTRIBUTE: value}
            )
        )

    def _reply(self, conversation_id: str, message_type: str, body: str, marker: str) -> WriteResult:
        admin_id = self._admin()
        self._locate(conversation_id, marker)
        request = AdminReplyConversationRequest(
            message_type=message_type, admin_id=admin_id, body=f"{body}{marker_comment(marker)}"
        )
        self._call(lambda: self.client.conversations.reply(conversation_id, request=request))
        return WriteResult(vendor_id=conversation_id, created=True, marker=marker)

    # Reads ----------------------------------------------------------------------------------------
    def read(self, kind: str, vendor_id: str) -> Record:
        if kind == "ticket":
            return self._record(kind, self._call(lambda: self.client.conversations.find(vendor_id)))
        if kind == "contact":
            return self._record(kind, self._call(lambda: self.client.contacts.find(vendor_id)))
        raise self._unsupported(f"read {kind}")

    def changed_since(self, kind: str, *, since: datetime | None, cursor: str | None = None) -> Page:
        """One page of conversations updated at or after ``since``, oldest first within the page
        (Intercom's search). Pass the same ``since`` with each ``cursor``: the cursor continues that search."""
        if kind != "ticket":
            raise self._unsupported(f"incremental read of {kind}")
        query = SingleFilterSearchRequest(field="updated_at", operator=">", value=helpdesk.unix(since))
        paging = StartingAfterPaging(per_page=helpdesk.PAGE_SIZE, starting_after=cursor)
        # One request: the SDK's pager would re-send the first page's pagination (python-intercom 5.0.1).
        pager = self._call(lambda: self.client.conversations.search(query=query, pagination=paging))
        records = sorted(
            (self._record("ticket", c) for c in pager.items or []),
            key=lambda r: (r.modified_at is None, r.modified_at, int(r.vendor_id)),
        )
        pages = pager.response.pages
        next_cursor = pages.next.starting_after if pages is not None and pages.next is not None else None
        return Page(records=records, next_cursor=next_cursor or None)

    def find_by_marker(self, kind: str, marker: str) -> Record | None:
        """The conversation holding a part with our proof of ``marker``, if the write took effect."""
        if kind != "ticket":
            raise self._unsupported(f"find {kind} by marker")
        query = SingleFilterSearchRequest(
            field=f"custom_attributes.{MARKER_ATTRIBUTE}", operator="~", value=marker_token(marker)
        )
        pager = self._call(lambda: self.client.conversations.search(query=query))
        proof = marker_comment(marker)
        for candidate in pager.items or []:
            conversation = self._call(partial(self.client.conversations.find, str(candidate.id)))
            parts = (
                conversation.conversation_parts.conversation_parts if conversation.conversation_parts else []
            )
            if any(proof in (part.body or "") for part in parts or []):
                return self._record("ticket", conversation)
        return None

    # Writes ---------------------------------------------------------------------------------------
    def post_public_reply(self, *, ticket_id: str, body: str, marker: str) -> WriteResult:
        return self._reply(ticket_id, "comment", body, marker)

    def add_internal_note(self, *, ticket_id: str, body: str, marker: str) -> WriteResult:
        return self._reply(ticket_id, "note", body, marker)

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
        """Assign the conversation to the team ``group_id`` and the teammate ``assignee_id``, then
        add the note carrying the marker. The assignments go first: repeating them is harmless, and
        the note (checked by its marker) exists only once they took effect. Intercom's priority and
        tags are not set: a priority is a flag there, and a tag must exist in the workspace first."""
        for kind, assignee in (("team", group_id), ("admin", assignee_id)):
            if assignee:
                self._assign(ticket_id, kind, str(assignee))
        return self._reply(ticket_id, "note", note, marker)

    def _assign(self, ticket_id: str, kind: str, assignee: str) -> None:
        assignment = ConversationsManageRequestBody_Assignment(
            type=kind, admin_id=self._admin(), assignee_id=assignee
        )
        self._call(lambda: self.client.conversations.manage(ticket_id, request=assignment))

    def set_ticket_status(
        self, *, ticket_id: str, status: str | None = None, group_id: str | None = None, marker: str
    ) -> WriteResult:
        """``status`` is ``open``, ``closed`` or ``snoozed``; ``group_id`` is the team to assign to."""
        admin_id = self._admin()
        changes: list[Any] = []
        if group_id is not None:
            changes.append(
                ConversationsManageRequestBody_Assignment(
                    type="team", admin_id=admin_id, assignee_id=str(group_id)
                )
            )
        if status == "open":
            changes.append(ConversationsManageRequestBody_Open(admin_id=admin_id))
        elif status == "closed":
            changes.append(ConversationsManageRequestBody_Close(admin_id=admin_id))
        elif status == "snoozed":
            seconds = int(self.config.options.get("snooze_seconds", DEFAULT_SNOOZE_SECONDS))
            changes.append(
                ConversationsManageRequestBody_Snoozed(
                    admin_id=admin_id, snoozed_until=int(time.time()) + seconds
                )
            )
        elif status is not None:
            raise ConnectorError(
                f"Intercom has no status {status!r} (open, closed, snoozed)", retryable=False, code="invalid"
            )
        if not changes:
            raise ConnectorError(
                "set_ticket_status needs a status or a group", retryable=False, code="invalid"
            )
        self._locate(ticket_id, marker)
        for change in changes:  # each idempotent in effect, so a retry may repeat them
            self._call(partial(self.client.conversations.manage, ticket_id, request=change))
        summary = ", ".join(
            part
            for part in (status and f"status set to {status}", group_id and f"assigned to team {group_id}")
            if part
        )
        note = AdminReplyConversationRequest(
            message_type="note",
            admin_id=admin_id,
            body=f"<p>AgentOps: {summary}.</p>{marker_comment(marker)}",
        )
        self._call(lambda: self.client.conversations.reply(ticket_id, request=note))
        return WriteResult(vendor_id=ticket_id, created=False, marker=marker)
