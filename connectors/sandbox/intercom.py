"""The Intercom REST API subset we use, emulated closely enough that python-intercom cannot tell.

Paths and shapes follow developers.intercom.com (API version 2.11): ``GET /conversations/{id}``
(with its conversation parts), ``PUT /conversations/{id}`` (custom attributes),
``POST /conversations/{id}/reply`` (an admin's ``comment`` or ``note``), ``POST
/conversations/{id}/parts`` (close, open, snooze, assign), ``POST /conversations/search`` (filters
on ``updated_at``, ``custom_attributes.*`` … with ``starting_after`` cursor pages, oldest
``updated_at`` first) and ``GET /contacts/{id}``. Errors are Intercom's ``error.list``; every
answer carries ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset``.

A customer rates a conversation in the Messenger (Intercom has no REST endpoint for it):
``rate_conversation`` sets the conversation's ``conversation_rating`` (``rating`` 1–5, ``remark``,
``created_at``, ``updated_at``, ``contact``, ``teammate``; rating again changes it), moves its
``updated_at`` and sends the ``conversation.rating.added`` notification with the conversation.

Like Intercom, a reply sent twice becomes two conversation parts: nothing here deduplicates.
Webhooks are Intercom's ``notification_event`` shape, signed with ``X-Hub-Signature``.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any

from connectors import helpdesk, signatures
from connectors.sandbox import register_emulator
from connectors.sandbox.server import RateLimitState, Request, Response, SandboxApp, SandboxError, route

#: Intercom's default limit: 10,000 calls a minute per app, counted in 10-second windows.
DEFAULT_RATE_LIMIT = 1666
SEARCH_PAGE_SIZE = 20
SEARCH_MAX_PAGE_SIZE = 150
_OPERATORS = ("=", "!=", "IN", "NIN", ">", "<", "~", "!~", "^", "$")
_ERROR_CODES = {
    400: "parameter_invalid",
    401: "unauthorized",
    404: "not_found",
    422: "parameter_invalid",
    429: "rate_limit_exceeded",
}


@register_emulator
class IntercomSandbox(SandboxApp):
    """Conversations with their parts, contacts, admins and teams of one Intercom workspace, in memory."""

    name = "intercom"
    default_port = 8814
    app_id = "sandbox"
    #: The app's client secret, which signs webhooks (``X-Hub-Signature``).
    client_secret = "intercom-sandbox-client-secret"  # noqa: S105 - a sandbox constant, not a credential

    def __init__(self) -> None:
        #: The only access token accepted (None: any bearer token).
        self.access_token: str | None = None
        #: Seconds added to the wall clock, so tests can move time forward between updates.
        self.clock_offset = 0.0
        super().__init__()

    def now(self) -> int:
        return int(time.time() + self.clock_offset)

    # Seeding (Python, for tests and the demo) ---------------------------------------------------
    def _insert(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.tables[kind][str(record["id"])] = record
            return dict(record)

    def add_admin(self, *, name: str, email: str) -> dict[str, Any]:
        admin_id = str(990000 + self.next_id("admin"))
        return self._insert("admin", {"type": "admin", "id": admin_id, "name": name, "email": email})

    def add_team(self, *, name: str) -> dict[str, Any]:
        team_id = str(5000 + self.next_id("team"))
        return self._insert("team", {"type": "team", "id": team_id, "name": name, "admin_ids": []})

    def reset(self) -> None:
        """Empty the workspace, then give it the teammate and team a fresh Intercom app has."""
        super().reset()
        self.default_admin = self.add_admin(name="Sandbox Admin", email="admin@sandbox.invalid")
        self.default_team = self.add_team(name="Support")

    def add_contact(
        self, *, name: str | None, email: str | None, role: str = "user", external_id: str | None = None
    ) -> dict[str, Any]:
        stamp = self.now()
        return self._insert(
            "contact",
            {
                "type": "contact",
                "id": uuid.uuid4().hex[:24],
                "workspace_id": self.app_id,
                "external_id": external_id,
                "role": role,
                "email": email,
                "name": name,
                "phone": None,
                "created_at": stamp,
                "updated_at": stamp,
                "custom_attributes": {},
                "tags": {"type": "list", "data": []},
            },
        )

    def add_conversation(self, *, contact_id: str, body: str, subject: str = "") -> dict[str, Any]:
        with self.lock:
            stamp = self.now()
            # As Intercom: the author of a customer-initiated conversation is the contact, named.
            person = self.tables["contact"].get(contact_id) or {}
            conversation_id = str(100000 + self.next_id("conversation"))
            conversation: dict[str, Any] = {
                "type": "conversation",
                "id": conversation_id,
                "title": subject or None,
                "created_at": stamp,
                "updated_at": stamp,
                "waiting_since": stamp,
                "snoozed_until": None,
                "open": True,
                "state": "open",
                "read": False,
                "priority": "not_priority",
                "admin_assignee_id": None,
                "team_assignee_id": None,
                "tags": {"type": "tag.list", "tags": []},
                "source": {
                    "type": "conversation",
                    "id": str(400000 + self.next_id("source")),
                    "delivered_as": "customer_initiated",
                    "subject": subject,
                    "body": f"<p>{body}</p>",
                    "author": {
                        "type": "user",
                        "id": contact_id,
                        "name": person.get("name"),
                        "email": person.get("email"),
                    },
                    "attachments": [],
                    "url": None,
                    "redacted": False,
                },
                "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": contact_id}]},
                "teammates": {"type": "admin.list", "admins": []},
                "custom_attributes": {},
                "statistics": None,
                "conversation_rating": None,
            }
            self.tables["conversation"][conversation_id] = conversation
            self.tables["parts"][conversation_id] = []
            return self._full(conversation)

    def rate_conversation(self, conversation_id: str, *, rating: int, remark: str = "") -> dict[str, Any]:
        """The customer rates the conversation in the Messenger (1–5, an optional remark); returns
        the conversation as the ``conversation.rating.added`` notification carries it."""
        if not isinstance(rating, int) or not 1 <= rating <= 5:
            raise SandboxError(400, "rating must be a whole number from 1 to 5", code="parameter_invalid")
        with self.lock:
            conversation = self._conversation(conversation_id)
            stamp = self.now()
            held = conversation.get("conversation_rating") or {}
            admin = conversation.get("admin_assignee_id") or self.default_admin["id"]
            contact = conversation["contacts"]["contacts"][0]
            conversation["conversation_rating"] = {
                "rating": rating,
                "remark": remark or None,
                "created_at": held.get("created_at") or stamp,
                "updated_at": stamp,
                "contact": {"type": "contact", "id": contact["id"]},
                "teammate": {"type": "admin", "id": str(admin)},
            }
            conversation["updated_at"] = stamp
            self.effect("rate", "conversation")
            self._answer(conversation, "conversation.rating.added")
            return self._full(conversation)

    def parts(self, conversation_id: str) -> list[dict[str, Any]]:
        """The parts of a conversation, oldest first (for tests)."""
        with self.lock:
            return [dict(p) for p in self.tables["parts"].get(conversation_id, [])]

    # Vendor hooks -------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, code: str) -> Any:
        vendor_code = _ERROR_CODES.get(status, "server_error" if status >= 500 else code or "error")
        return {
            "type": "error.list",
            "request_id": uuid.uuid4().hex,
            "errors": [{"code": vendor_code, "message": message}],
        }

    def rate_limit_headers(self, state: RateLimitState) -> dict[str, str]:
        reset = math.ceil(time.time() + (state.retry_after or state.window_seconds))
        return {
            "X-RateLimit-Limit": str(state.limit),
            "X-RateLimit-Remaining": str(state.remaining),
            "X-RateLimit-Reset": str(reset),
        }

    def extra_headers(self, request: Request, response: Response) -> dict[str, str]:
        headers = {"Intercom-Version": request.headers.get("Intercom-Version") or "2.11"}
        if "X-RateLimit-Limit" not in response.headers:  # no emulated limit: report an unused one
            headers.update(
                {
                    "X-RateLimit-Limit": str(DEFAULT_RATE_LIMIT),
                    "X-RateLimit-Remaining": str(DEFAULT_RATE_LIMIT - 1),
                    "X-RateLimit-Reset": str(math.ceil(time.time() + 10)),
                }
            )
        return headers

    def sign_webhook(self, body: bytes) -> dict[str, str]:
        return {
            signatures.INTERCOM_SIGNATURE_HEADER: signatures.intercom_sign(
                client_secret=self.client_secret, body=body
            )
        }

    # Helpers --------------------------------------------------------------------------------------
    def authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization") or ""
        token = header.removeprefix("Bearer ")
        if token == header or not token or (self.access_token is not None and token != self.access_token):
            raise SandboxError(401, "Access Token Invalid", code="unauthorized")

    def _conversation(self, conversation_id: str) -> dict[str, Any]:
        conversation = self.tables["conversation"].get(conversation_id)
        if conversation is None:
            raise SandboxError(404, "Resource Not Found", code="not_found")
        return conversation

    def _admin(self, admin_id: Any) -> dict[str, Any]:
        admin = self.tables["admin"].get(str(admin_id))
        if admin is None:
            raise SandboxError(400, "Admin not found", code="parameter_invalid")
        return admin

    def _full(self, conversation: dict[str, Any]) -> dict[str, Any]:
        """The conversation with its parts, as ``GET /conversations/{id}`` and writes answer it."""
        parts = [dict(p) for p in self.tables["parts"][conversation["id"]]]
        return {
            **conversation,
            "conversation_parts": {
                "type": "conversation_part.list",
                "conversation_parts": parts,
                "total_count": len(parts),
            },
        }

    def _add_part(
        self,
        conversation: dict[str, Any],
        *,
        part_type: str,
        admin: dict[str, Any],
        body: str | None,
        **extra: Any,
    ) -> dict[str, Any]:
        stamp = self.now()
        part = {
            "type": "conversation_part",
            "id": str(700000 + self.next_id("part")),
            "part_type": part_type,
            "body": body,
            "created_at": stamp,
            "updated_at": stamp,
            "notified_at": stamp,
            "assigned_to": None,
            "author": {"type": "admin", "id": admin["id"], "name": admin["name"], "email": admin["email"]},
            "attachments": [],
            "external_id": None,
            "redacted": False,
            **extra,
        }
        self.tables["parts"][conversation["id"]].append(part)
        conversation["updated_at"] = stamp
        return part

    def _answer(self, conversation: dict[str, Any], topic: str) -> Response:
        full = self._full(conversation)
        self.emit_webhook(
            {
                "type": "notification_event",
                "app_id": self.app_id,
                "id": f"notif_{uuid.uuid4()}",
                "topic": topic,
                "delivery_status": "pending",
                "delivery_attempts": 1,
                "delivered_at": 0,
                "first_sent_at": self.now(),
                "created_at": self.now(),
                "self": None,
                "links": {},
                "data": {"type": "notification_event_data", "item": full},
            }
        )
        return self.json(full)

    # Routes ---------------------------------------------------------------------------------------
    @route("GET", r"/conversations/(?P<conversation_id>\d+)")
    def show_conversation(self, request: Request) -> Response:
        with self.lock:
            return self.json(self._full(self._conversation(request.params["conversation_id"])))

    @route("GET", r"/admins")
    def list_admins(self, request: Request) -> Response:
        with self.lock:
            return self.json(
                {"type": "admin.list", "admins": [dict(a) for a in self.tables["admin"].values()]}
            )

    @route("GET", r"/teams")
    def list_teams(self, request: Request) -> Response:
        with self.lock:
            return self.json({"type": "team.list", "teams": [dict(t) for t in self.tables["team"].values()]})

    @route("POST", r"/contacts")
    def create_contact(self, request: Request) -> Response:
        data = request.json()
        if not (data.get("email") or data.get("external_id")):
            raise SandboxError(400, "email or external_id is required", code="parameter_invalid")
        with self.lock:
            for existing in self.tables["contact"].values():
                if data.get("email") and existing["email"] == data["email"]:
                    raise SandboxError(
                        409,
                        f"A contact matching those details already exists with id={existing['id']}",
                        code="conflict",
                    )
            contact = self.add_contact(
                name=data.get("name"),
                email=data.get("email"),
                role=data.get("role") or "user",
                external_id=data.get("external_id"),
            )
            self.effect("create", "contact")
        return self.json(contact)

    @route("POST", r"/conversations")
    def create_conversation(self, request: Request) -> Response:
        """A conversation started by a contact; Intercom answers with the message, not the conversation."""
        data = request.json()
        sender = data.get("from") if isinstance(data.get("from"), dict) else {}
        if not (data.get("body") or "").strip():
            raise SandboxError(400, "Body is required", code="parameter_invalid")
        with self.lock:
            if str(sender.get("id")) not in self.tables["contact"]:
                raise SandboxError(404, "User Not Found", code="not_found")
            conversation = self.add_conversation(contact_id=str(sender["id"]), body=data["body"])
            self.effect("create", "conversation")
            self._answer(self.tables["conversation"][conversation["id"]], "conversation.user.created")
        source = conversation["source"]
        message = {
            "type": "user_message",
            "id": source["id"],
            "created_at": conversation["created_at"],
            "body": source["body"],
            "message_type": "inapp",
            "conversation_id": conversation["id"],
        }
        return self.json(message)

    @route("GET", r"/contacts/(?P<contact_id>[0-9a-f]+)")
    def show_contact(self, request: Request) -> Response:
        with self.lock:
            contact = self.tables["contact"].get(request.params["contact_id"])
            if contact is None:
                raise SandboxError(404, "User Not Found", code="not_found")
            return self.json(dict(contact))

    @route("PUT", r"/conversations/(?P<conversation_id>\d+)")
    def update_conversation(self, request: Request) -> Response:
        data = request.json()
        with self.lock:
            conversation = self._conversation(request.params["conversation_id"])
            attributes = data.get("custom_attributes") or {}
            if not isinstance(attributes, dict):
                raise SandboxError(400, "custom_attributes must be an object", code="parameter_invalid")
            conversation["custom_attributes"].update(attributes)
            if data.get("title") is not None:
                conversation["title"] = data["title"]
            conversation["updated_at"] = self.now()
            self.effect("update", "conversation")
            return self._answer(conversation, "conversation.updated")

    @route("POST", r"/conversations/(?P<conversation_id>\d+)/reply")
    def reply(self, request: Request) -> Response:
        data = request.json()
        message_type = data.get("message_type")
        if data.get("type") == "user" and message_type == "comment":
            return self._user_reply(request.params["conversation_id"], data)
        if data.get("type") != "admin" or message_type not in ("comment", "note"):
            raise SandboxError(
                400, "The sandbox accepts admin comments and notes only", code="parameter_invalid"
            )
        if not (data.get("body") or "").strip():
            raise SandboxError(400, "Body is required for comment and note", code="parameter_invalid")
        with self.lock:
            conversation = self._conversation(request.params["conversation_id"])
            admin = self._admin(data.get("admin_id"))
            self._add_part(conversation, part_type=message_type, admin=admin, body=data["body"])
            self.effect("create", "admin comment" if message_type == "comment" else "note")
            topic = "conversation.admin.replied" if message_type == "comment" else "conversation.admin.noted"
            return self._answer(conversation, topic)

    def _user_reply(self, conversation_id: str, data: dict[str, Any]) -> Response:
        """The customer's reply (``type: user`` with ``intercom_user_id``), as the Messenger sends it."""
        if not (data.get("body") or "").strip():
            raise SandboxError(400, "Body is required for comment and note", code="parameter_invalid")
        with self.lock:
            conversation = self._conversation(conversation_id)
            contact = self.tables["contact"].get(str(data.get("intercom_user_id")))
            if contact is None:
                raise SandboxError(404, "User Not Found", code="not_found")
            author = {"type": "user", "id": contact["id"], "name": contact["name"], "email": contact["email"]}
            part = self._add_part(conversation, part_type="comment", admin=contact, body=data["body"])
            part["author"] = author
            if conversation["state"] != "open":  # a customer's reply reopens the conversation
                conversation.update(state="open", open=True, snoozed_until=None)
            self.effect("create", "user comment")
            return self._answer(conversation, "conversation.user.replied")

    @route("POST", r"/conversations/(?P<conversation_id>\d+)/parts")
    def manage(self, request: Request) -> Response:
        """Close, open, snooze or assign: each adds a part, as Intercom does."""
        data = request.json()
        kind = data.get("message_type")
        with self.lock:
            conversation = self._conversation(request.params["conversation_id"])
            admin = self._admin(data.get("admin_id"))
            if kind in ("close", "open"):
                state = "closed" if kind == "close" else "open"
                conversation.update(state=state, open=state == "open", snoozed_until=None)
                self._add_part(conversation, part_type=kind, admin=admin, body=data.get("body"))
            elif kind == "snoozed":
                until = data.get("snoozed_until")
                if not isinstance(until, int) or until <= self.now():
                    raise SandboxError(
                        400, "snoozed_until must be a future timestamp", code="parameter_invalid"
                    )
                conversation.update(state="snoozed", open=True, snoozed_until=until)
                self._add_part(conversation, part_type="snoozed", admin=admin, body=None)
            elif kind == "assignment":
                self._assign(conversation, admin, data)
            else:
                raise SandboxError(400, f"message_type {kind!r} is not supported", code="parameter_invalid")
            self.effect(kind, "conversation")
            # Intercom's topics name what happened: closed, opened, snoozed, assigned.
            topic = {"close": "closed", "open": "opened", "assignment": "assigned"}.get(kind, kind)
            return self._answer(conversation, f"conversation.admin.{topic}")

    def _assign(self, conversation: dict[str, Any], admin: dict[str, Any], data: dict[str, Any]) -> None:
        assignee = str(data.get("assignee_id") or "")
        reference: dict[str, Any]
        if data.get("type") == "team":
            if assignee not in self.tables["team"]:
                raise SandboxError(400, "Team not found", code="parameter_invalid")
            conversation["team_assignee_id"] = assignee
            reference = {"type": "team", "id": assignee}
        else:
            self._admin(assignee)
            conversation["admin_assignee_id"] = int(assignee)
            reference = {"type": "admin", "id": assignee}
        self._add_part(
            conversation, part_type="assignment", admin=admin, body=data.get("body"), assigned_to=reference
        )

    @route("POST", r"/conversations/search")
    def search(self, request: Request) -> Response:
        """Conversations matching the query, by ``updated_at`` then id; no parts, as Intercom lists them."""
        data = request.json()
        paging = data.get("pagination") or {}
        per_page = int(paging.get("per_page") or SEARCH_PAGE_SIZE)
        if not 1 <= per_page <= SEARCH_MAX_PAGE_SIZE:
            raise SandboxError(400, f"per_page must be 1 to {SEARCH_MAX_PAGE_SIZE}", code="parameter_invalid")
        query = data.get("query")
        if not isinstance(query, dict):
            raise SandboxError(400, "query is required", code="parameter_invalid")
        with self.lock:
            matches = sorted(
                (dict(c) for c in self.tables["conversation"].values() if _matches(c, query)),
                key=lambda c: (c["updated_at"], int(c["id"])),
            )
        start = None
        if paging.get("starting_after"):
            start = helpdesk.decode_position(paging["starting_after"])
            if start is None:
                raise SandboxError(400, "starting_after is invalid", code="parameter_invalid")
        if start is not None:
            matches_after = [c for c in matches if (c["updated_at"], int(c["id"])) > start]
        else:
            matches_after = matches
        page = matches_after[:per_page]
        pages: dict[str, Any] = {
            "type": "pages",
            "page": (len(matches) - len(matches_after)) // per_page + 1,
            "per_page": per_page,
            "total_pages": max(math.ceil(len(matches) / per_page), 1),
        }
        if len(matches_after) > per_page:
            last = page[-1]
            pages["next"] = {
                "per_page": per_page,
                "starting_after": helpdesk.encode_position(last["updated_at"], last["id"]),
            }
        return self.json(
            {"type": "conversation.list", "conversations": page, "total_count": len(matches), "pages": pages}
        )


def _field(conversation: dict[str, Any], path: str) -> Any:
    value: Any = conversation
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _matches(conversation: dict[str, Any], query: dict[str, Any]) -> bool:
    operator = query.get("operator")
    if operator in ("AND", "OR"):
        results = [_matches(conversation, q) for q in query.get("value") or []]
        return all(results) if operator == "AND" else any(results)
    if operator not in _OPERATORS or "field" not in query:
        raise SandboxError(400, f"Unsupported query {json.dumps(query)}", code="parameter_invalid")
    value, wanted = _field(conversation, query["field"]), query.get("value")
    if operator in ("IN", "NIN"):
        return (value in (wanted or [])) == (operator == "IN")
    if operator in (">", "<"):  # Intercom documents both as inclusive
        return value is not None and (value >= wanted if operator == ">" else value <= wanted)
    if operator in ("~", "!~", "^", "$"):
        text, needle = str(value or ""), str(wanted)
        hit = {
            "~": needle in text,
            "!~": needle not in text,
            "^": text.startswith(needle),
            "$": text.endswith(needle),
        }
        return hit[operator]
    return (value == wanted) == (operator == "=")
