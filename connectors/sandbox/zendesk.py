"""The Zendesk Support API subset we use, emulated closely enough that zenpy cannot tell.

Paths, payloads and answers follow developer.zendesk.com: ``/api/v2/tickets/{id}.json`` (show and
update, where a ``comment`` becomes a new public reply or internal note and ``additional_tags`` are
added), ``/api/v2/users/{id}.json``, the cursor-based incremental export
``/api/v2/incremental/tickets/cursor.json`` (oldest ``updated_at`` first), ``/api/v2/search.json``
with ``type:`` and ``tags:`` terms, and satisfaction ratings (legacy CSAT): the requester rates a solved
ticket with ``POST /api/v2/tickets/{id}/satisfaction_rating.json`` (``good`` or ``bad``, an optional
comment; rating again changes the one rating), which sets the ticket's ``satisfaction_rating``
(``{id, score, comment}``) and moves its ``updated_at``; ``/api/v2/satisfaction_ratings.json`` lists
ratings changed since ``start_time`` (cursor pages) and ``/api/v2/satisfaction_ratings/{id}.json``
shows one. Errors have Zendesk's ``{"error": …, "description": …}`` shape,
every answer carries ``X-Rate-Limit`` / ``X-Rate-Limit-Remaining``, and a 429 a ``Retry-After``.

Like Zendesk, an update with a comment posted twice adds two comments: nothing here deduplicates.
Webhooks are Zendesk's event-subscription shape, signed with ``connectors.signatures``. Zendesk has no
event subscription for a satisfaction rating: an admin adds a trigger ("Satisfaction is Changed")
that notifies a webhook with a JSON body of their own. With ``csat_trigger`` on, the sandbox sends
that trigger's body as docs/connectors-helpdesk.md gives it: ``{"id": "<ticket id>-satisfaction-
<ticket updated_at>", "type": "agentops:ticket.satisfaction_changed", "ticket_id": "<ticket id>",
"updated_at": "<ticket updated_at>"}`` (the ticket's time when the rating changed it), signed with
the one ``webhook_secret`` (in Zendesk the trigger's webhook has a signing secret of its own).
"""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from connectors import helpdesk, signatures
from connectors.sandbox import register_emulator
from connectors.sandbox.server import RateLimitState, Request, Response, SandboxApp, SandboxError, route
from support.helpdesk_events import ZENDESK_SATISFACTION

#: Zendesk's event-type names for changes to these ticket fields (the rest are ``<field>_changed``).
_EVENT_NAMES = {"group_id": "group_assignment_changed", "assignee_id": "agent_assignment_changed"}
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
#: Zendesk's default for the incremental export page; ``per_page`` may lower it.
INCREMENTAL_PAGE_SIZE = 1000
#: Zendesk Suite Professional allows 400 requests a minute; reported when no limit is emulated.
DEFAULT_RATE_LIMIT = 400
#: The scores a requester can give (legacy CSAT); "offered" and "unoffered" are the states before.
RATING_SCORES = ("good", "bad")
#: Zendesk's largest cursor page for satisfaction ratings.
RATINGS_PAGE_SIZE = 100


def iso(moment: float) -> str:
    """Zendesk's timestamp format: UTC, whole seconds, ``Z``."""
    return datetime.fromtimestamp(int(moment), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


@register_emulator
class ZendeskSandbox(SandboxApp):
    """Tickets with comments and tags, users and groups of one Zendesk account, in memory."""

    name = "zendesk"
    default_port = 8813
    #: The secret webhooks are signed with (Zendesk shows it per webhook).
    webhook_secret = "zendesk-sandbox-webhook-secret"  # noqa: S105 - a sandbox constant, not a credential

    def __init__(self) -> None:
        #: How stale search is: Zendesk's index trails writes by seconds to minutes (0: none).
        self.search_lag_seconds = 0.0
        #: The only API token accepted (None: any credentials).
        self.api_token: str | None = None
        #: Seconds added to the wall clock, so tests can move time forward between updates.
        self.clock_offset = 0.0
        #: Whether the account has the "Satisfaction is Changed" trigger notifying the webhook.
        self.csat_trigger = True
        super().__init__()

    def now(self) -> float:
        return time.time() + self.clock_offset

    # Seeding (Python, for tests and the demo) ---------------------------------------------------
    def _insert(self, kind: str, first_id: int, path: str | None, **fields: Any) -> dict[str, Any]:
        with self.lock:
            record_id = first_id + self.next_id(kind)
            stamp = iso(self.now())
            record = {"id": record_id, **fields, "created_at": stamp, "updated_at": stamp}
            if path:
                record["url"] = f"{self.base_url}/api/v2/{path}/{record_id}.json"
            self.tables[kind][str(record_id)] = record
            return record

    def add_user(self, *, name: str, email: str, role: str = "end-user") -> dict[str, Any]:
        return self._insert(
            "user",
            360000,
            "users",
            name=name,
            email=email,
            role=role,
            active=True,
            time_zone="UTC",
            tags=[],
            user_fields={},
        )

    def add_group(self, *, name: str) -> dict[str, Any]:
        return self._insert("group", 5000, None, name=name)

    def add_ticket(
        self, *, subject: str, description: str, requester_id: int, status: str = "new"
    ) -> dict[str, Any]:
        with self.lock:
            ticket = self._insert(
                "ticket",
                0,
                "tickets",
                external_id=None,
                type=None,
                subject=subject,
                raw_subject=subject,
                description=description,
                priority=None,
                status=status,
                requester_id=requester_id,
                submitter_id=requester_id,
                assignee_id=None,
                group_id=None,
                tags=[],
                custom_fields=[],
                satisfaction_rating={"score": "unoffered"},
                via={"channel": "email", "source": {"from": {}, "to": {}, "rel": None}},
            )
            first = self._comment(
                author_id=requester_id, body=description, public=True, stamp=ticket["created_at"]
            )
            self.tables["comments"][str(ticket["id"])] = [first]
            self.tables["indexed_tags"][str(ticket["id"])] = [(self.now(), [])]
            return dict(ticket)

    def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        """The comments of a ticket, oldest first (for tests)."""
        with self.lock:
            return [dict(c) for c in self.tables["comments"].get(str(ticket_id), [])]

    def _comment(self, *, author_id: int, body: str, public: bool, stamp: str) -> dict[str, Any]:
        comment_id = 900000 + self.next_id("comment")
        return {
            "id": comment_id,
            "type": "Comment",
            "author_id": author_id,
            "body": body,
            "html_body": f'<div class="zd-comment" dir="auto"><p dir="auto">{body}</p></div>',
            "plain_body": body,
            "public": public,
            "attachments": [],
            "audit_id": comment_id + 1,
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": stamp,
            "metadata": {"system": {"client": "sandbox"}, "custom": {}},
        }

    # Vendor hooks -------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, code: str) -> Any:
        titles = {401: "Couldn't authenticate you", 404: "RecordNotFound", 422: "RecordInvalid"}
        return {"error": titles.get(status, code or "InternalError"), "description": message}

    def rate_limit_headers(self, state: RateLimitState) -> dict[str, str]:
        return {"X-Rate-Limit": str(state.limit), "X-Rate-Limit-Remaining": str(state.remaining)}

    def extra_headers(self, request: Request, response: Response) -> dict[str, str]:
        headers = {"X-Zendesk-API-Version": "v2", "X-Request-Id": uuid.uuid4().hex}
        if "X-Rate-Limit" not in response.headers:  # no emulated limit: report an unused one
            headers.update({"X-Rate-Limit": str(DEFAULT_RATE_LIMIT), "X-Rate-Limit-Remaining": "399"})
        return headers

    def sign_webhook(self, body: bytes) -> dict[str, str]:
        return signatures.zendesk_headers(secret=self.webhook_secret, body=body, timestamp=iso(self.now()))

    # Helpers --------------------------------------------------------------------------------------
    def authenticate(self, request: Request) -> None:
        """Basic ``email/token:API_TOKEN`` or a bearer OAuth token; only ``api_token`` when it is set."""
        header = request.headers.get("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        if scheme == "Basic":
            credentials = (
                base64.b64decode(credentials.encode() + b"==").decode(errors="replace").partition(":")[2]
            )
        if not credentials or (self.api_token is not None and credentials != self.api_token):
            raise SandboxError(401, "Couldn't authenticate you", code="Unauthorized")

    def _ticket(self, ticket_id: str) -> dict[str, Any]:
        ticket = self.tables["ticket"].get(ticket_id)
        if ticket is None:
            raise SandboxError(404, "Not found", code="RecordNotFound")
        return ticket

    def _invalid(self, field: str, description: str) -> SandboxError:
        return SandboxError(422, f"Record validation errors: {field}: {description}", code="RecordInvalid")

    # Routes ---------------------------------------------------------------------------------------
    @route("GET", r"/api/v2/tickets/(?P<ticket_id>\d+)\.json")
    def show_ticket(self, request: Request) -> Response:
        with self.lock:
            return self.json({"ticket": dict(self._ticket(request.params["ticket_id"]))})

    @route("GET", r"/api/v2/tickets/(?P<ticket_id>\d+)/comments\.json")
    def list_comments(self, request: Request) -> Response:
        """The ticket's comments, oldest first (one page: the sandbox's tickets are short)."""
        with self.lock:
            self._ticket(request.params["ticket_id"])
            comments = self.comments(int(request.params["ticket_id"]))
        return self.json(
            {"comments": comments, "next_page": None, "previous_page": None, "count": len(comments)}
        )

    @route("GET", r"/api/v2/users/(?P<user_id>\d+)\.json")
    def show_user(self, request: Request) -> Response:
        with self.lock:
            user = self.tables["user"].get(request.params["user_id"])
            if user is None:
                raise SandboxError(404, "Not found", code="RecordNotFound")
            return self.json({"user": dict(user)})

    @route("PUT", r"/api/v2/tickets/(?P<ticket_id>\d+)\.json")
    def update_ticket(self, request: Request) -> Response:
        changes = request.json().get("ticket")
        if not isinstance(changes, dict):
            raise SandboxError(400, "Parameter ticket is required", code="InvalidEndpoint")
        with self.lock:
            ticket = self._ticket(request.params["ticket_id"])
            events, comment = self._validate_update(ticket, changes)
            stamp = iso(self.now())
            if comment is not None:
                comment["created_at"] = stamp
                self.tables["comments"][str(ticket["id"])].append(comment)
                self.effect("create", "public comment" if comment["public"] else "internal note")
            field_events = self._apply_fields(ticket, changes)
            if field_events:
                self.effect("update", "ticket")
            events += field_events
            ticket["updated_at"] = stamp
            answer = self._answer(ticket, events, author_id=comment["author_id"] if comment else -1)
        for event in events:
            self._emit(ticket=answer["ticket"], event=event)
        return self.json(answer)

    def _answer(
        self, ticket: dict[str, Any], events: list[dict[str, Any]], *, author_id: int
    ) -> dict[str, Any]:
        """A ticket write's answer: the ticket and the audit recording its events."""
        audit = {
            "id": 700000 + self.next_id("audit"),
            "ticket_id": ticket["id"],
            "created_at": ticket["updated_at"],
            "author_id": author_id,
            "metadata": {"system": {}, "custom": {}},
            "events": events,
            "via": {"channel": "api"},
        }
        return {"ticket": dict(ticket), "audit": audit}

    @route("POST", r"/api/v2/tickets\.json")
    def create_ticket(self, request: Request) -> Response:
        """A new ticket from ``comment.body``, by ``requester_id`` or ``requester`` (name, email)."""
        data = request.json().get("ticket")
        if not isinstance(data, dict):
            raise SandboxError(400, "Parameter ticket is required", code="InvalidEndpoint")
        raw: dict[str, Any] = data["comment"] if isinstance(data.get("comment"), dict) else {}
        body = raw.get("body") or raw.get("html_body") or ""
        if not body.strip():
            raise self._invalid("comment", "cannot be blank")
        self._check_fields(data)
        with self.lock:
            requester_id = self._requester(data)
            ticket = self.add_ticket(
                subject=data.get("subject") or body[:60], description=body, requester_id=requester_id
            )
            record = self.tables["ticket"][str(ticket["id"])]
            self._apply_fields(
                record, {k: data[k] for k in ("status", "group_id", "tags", "priority") if k in data}
            )
            self.effect("create", "ticket")
            answer = self._answer(
                record, [{"id": 800000 + self.next_id("event"), "type": "Create"}], author_id=requester_id
            )
        self._emit(ticket=answer["ticket"], event={"type": "Create"})
        return self.json(answer, status=201)

    def _requester(self, data: dict[str, Any]) -> int:
        if data.get("requester_id") is not None:
            if str(data["requester_id"]) not in self.tables["user"]:
                raise self._invalid("requester", f"{data['requester_id']} is not a valid user")
            return int(data["requester_id"])
        requester: dict[str, Any] = data["requester"] if isinstance(data.get("requester"), dict) else {}
        email = requester.get("email")
        if not email:
            return 360000  # the API user, as Zendesk does when no requester is given
        for user in self.tables["user"].values():
            if user["email"] == email:
                return int(user["id"])
        user = self.add_user(name=requester.get("name") or email, email=email)
        self.effect("create", "user")
        return int(user["id"])

    @route("POST", r"/api/v2/users\.json")
    def create_user(self, request: Request) -> Response:
        data = request.json().get("user")
        if not isinstance(data, dict) or not data.get("name"):
            raise self._invalid("name", "cannot be blank")
        with self.lock:
            if data.get("email") and any(u["email"] == data["email"] for u in self.tables["user"].values()):
                raise self._invalid("email", f"{data['email']} is already being used by another user")
            user = self.add_user(
                name=data["name"], email=data.get("email") or "", role=data.get("role") or "end-user"
            )
            self.effect("create", "user")
        return self.json({"user": user}, status=201)

    @route("POST", r"/api/v2/groups\.json")
    def create_group(self, request: Request) -> Response:
        data = request.json().get("group")
        if not isinstance(data, dict) or not data.get("name"):
            raise self._invalid("name", "cannot be blank")
        group = self.add_group(name=data["name"])
        self.effect("create", "group")
        return self.json({"group": group}, status=201)

    def _validate_update(
        self, ticket: dict[str, Any], changes: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if ticket["status"] == "closed":
            raise self._invalid("status", "closed prevents ticket update")
        self._check_fields(changes)
        raw = changes.get("comment")
        if raw is None:
            return [], None
        body = (raw.get("body") or raw.get("html_body") or "") if isinstance(raw, dict) else ""
        if not body.strip():
            raise self._invalid("comment", "cannot be blank")
        author_id = int(raw.get("author_id") or 360000)
        comment = self._comment(
            author_id=author_id, body=body, public=raw.get("public", True) is not False, stamp=""
        )
        event = {
            k: comment[k] for k in ("id", "type", "author_id", "body", "html_body", "public", "attachments")
        }
        return [event], comment

    def _check_fields(self, changes: dict[str, Any]) -> None:
        status = changes.get("status")
        if status is not None and status not in STATUSES:
            raise self._invalid("status", f"{status!r} is not a valid status")
        group_id = changes.get("group_id")
        if group_id is not None and str(group_id) not in self.tables["group"]:
            raise self._invalid("group", f"{group_id} is not a valid group")
        assignee_id = changes.get("assignee_id")
        if assignee_id is not None:
            user = self.tables["user"].get(str(assignee_id))
            if user is None or user.get("role") not in ("agent", "admin"):
                raise self._invalid("assignee", f"{assignee_id} is not an agent")

    def _apply_fields(self, ticket: dict[str, Any], changes: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []

        def change(field: str, value: Any) -> None:
            if ticket.get(field) != value:
                event_id = 800000 + self.next_id("event")
                events.append(
                    {
                        "id": event_id,
                        "type": "Change",
                        "field_name": field,
                        "value": value,
                        "previous_value": ticket.get(field),
                    }
                )
                ticket[field] = value

        for field in ("status", "group_id", "assignee_id", "priority", "subject", "type"):
            if field in changes:
                change(field, changes[field])
        tags = list(changes["tags"]) if "tags" in changes else list(ticket["tags"])
        tags += [t for t in changes.get("additional_tags", []) if t not in tags]
        tags = [t for t in tags if t not in changes.get("remove_tags", [])]
        change("tags", sorted(set(tags), key=tags.index))
        self.tables["indexed_tags"][str(ticket["id"])].append((self.now(), list(ticket["tags"])))
        return events

    @route("GET", r"/api/v2/incremental/tickets/cursor\.json")
    def incremental_tickets(self, request: Request) -> Response:
        """Tickets by ``updated_at`` then id, after a cursor or from ``start_time`` (inclusive)."""
        per_page = min(int(request.arg("per_page") or INCREMENTAL_PAGE_SIZE), INCREMENTAL_PAGE_SIZE)
        cursor, start_time = request.arg("cursor"), request.arg("start_time")
        if (cursor is None) == (start_time is None):
            raise SandboxError(400, "Provide either start_time or cursor", code="InvalidPaginationParameter")
        after = helpdesk.decode_position(cursor) if cursor else (int(start_time or 0), 0)
        if after is None:
            raise SandboxError(400, "Invalid cursor", code="InvalidPaginationParameter")
        with self.lock:
            ordered = sorted(
                (dict(t) for t in self.tables["ticket"].values()),
                key=lambda t: (_epoch(t["updated_at"]), t["id"]),
            )
        if cursor:
            pending = [t for t in ordered if (_epoch(t["updated_at"]), t["id"]) > after]
        else:
            pending = [t for t in ordered if _epoch(t["updated_at"]) >= after[0]]
        page = pending[:per_page]
        last = (_epoch(page[-1]["updated_at"]), page[-1]["id"]) if page else after
        after_cursor = helpdesk.encode_position(*last)
        url = f"{self.base_url}/api/v2/incremental/tickets/cursor.json"
        return self.json(
            {
                "tickets": page,
                "after_cursor": after_cursor,
                "before_cursor": helpdesk.encode_position(*after),
                "after_url": f"{url}?cursor={after_cursor}&per_page={per_page}",
                "before_url": None,
                "end_of_stream": len(pending) <= per_page,
            }
        )

    @route("POST", r"/api/v2/tickets/(?P<ticket_id>\d+)/satisfaction_rating\.json")
    def rate_ticket(self, request: Request) -> Response:
        """The requester rates a solved ticket: ``{"satisfaction_rating": {"score": "good"|"bad",
        "comment": …}}``. A ticket has one rating: rating again changes its score, comment and
        ``updated_at`` (Zendesk keeps the id)."""
        data = request.json().get("satisfaction_rating")
        if not isinstance(data, dict):
            raise SandboxError(400, "Parameter satisfaction_rating is required", code="InvalidEndpoint")
        score = data.get("score")
        if score not in RATING_SCORES:
            raise self._invalid("score", f"{score!r} is not a valid score (good, bad)")
        with self.lock:
            ticket = self._ticket(request.params["ticket_id"])
            if ticket["status"] not in ("solved", "closed"):
                raise self._invalid("satisfaction_rating", "can only be given to a solved ticket")
            rating = self.rate(ticket, score=score, comment=str(data.get("comment") or ""))
            answer = dict(rating)
        if self.csat_trigger:
            self.emit_webhook(
                {
                    "id": f"{ticket['id']}-satisfaction-{ticket['updated_at']}",
                    "type": ZENDESK_SATISFACTION,
                    "ticket_id": str(ticket["id"]),
                    "updated_at": ticket["updated_at"],
                }
            )
        return self.json({"satisfaction_rating": answer})

    def rate(self, ticket: dict[str, Any], *, score: str, comment: str) -> dict[str, Any]:
        """Record the requester's rating of ``ticket`` (under the lock); returns the rating."""
        stamp = iso(self.now())
        held = self.tables["satisfaction_rating"].get(str((ticket["satisfaction_rating"] or {}).get("id")))
        if held is None:
            rating_id = 35000 + self.next_id("satisfaction_rating")
            held = {
                "id": rating_id,
                "url": f"{self.base_url}/api/v2/satisfaction_ratings/{rating_id}.json",
                "ticket_id": ticket["id"],
                "requester_id": ticket["requester_id"],
                "created_at": stamp,
            }
            self.tables["satisfaction_rating"][str(rating_id)] = held
        held.update(
            assignee_id=ticket["assignee_id"],
            group_id=ticket["group_id"],
            score=score,
            comment=comment,
            updated_at=stamp,
        )
        ticket["satisfaction_rating"] = {"id": held["id"], "score": score, "comment": comment}
        ticket["updated_at"] = stamp
        self.effect("rate", "ticket")
        return held

    @route("GET", r"/api/v2/satisfaction_ratings/(?P<rating_id>\d+)(?:\.json)?")
    def show_satisfaction_rating(self, request: Request) -> Response:
        with self.lock:
            rating = self.tables["satisfaction_rating"].get(request.params["rating_id"])
            if rating is None:
                raise SandboxError(404, "Not found", code="RecordNotFound")
            return self.json({"satisfaction_rating": dict(rating)})

    @route("GET", r"/api/v2/satisfaction_ratings(?:\.json)?")
    def list_satisfaction_ratings(self, request: Request) -> Response:
        """Received ratings changed at or after ``start_time`` (and up to ``end_time``), oldest
        ``updated_at`` first, in cursor pages (``page[size]``, ``page[after]``)."""
        size = min(int(request.arg("page[size]") or RATINGS_PAGE_SIZE), RATINGS_PAGE_SIZE)
        start, end = int(request.arg("start_time") or 0), request.arg("end_time")
        after = (
            helpdesk.decode_position(request.arg("page[after]") or "") if request.arg("page[after]") else None
        )
        with self.lock:
            ordered = sorted(
                (dict(r) for r in self.tables["satisfaction_rating"].values()),
                key=lambda r: (_epoch(r["updated_at"]), r["id"]),
            )
        pending = [
            r
            for r in ordered
            if _epoch(r["updated_at"]) >= start
            and (end is None or _epoch(r["updated_at"]) <= int(end))
            and (after is None or (_epoch(r["updated_at"]), r["id"]) > after)
        ]
        page = pending[:size]
        more = len(pending) > size
        cursor = helpdesk.encode_position(_epoch(page[-1]["updated_at"]), page[-1]["id"]) if page else None
        query = "&".join(f"{k}={v}" for k, v in (("start_time", start), ("end_time", end)) if v is not None)
        url = f"{self.base_url}/api/v2/satisfaction_ratings.json?{query}&page[size]={size}"
        return self.json(
            {
                "satisfaction_ratings": page,
                "meta": {"has_more": more, "after_cursor": cursor, "before_cursor": None},
                "links": {"next": f"{url}&page[after]={cursor}" if more else None, "prev": None},
            }
        )

    @route("GET", r"/api/v2/search\.json")
    def search(self, request: Request) -> Response:
        """``type:ticket`` and ``tags:x`` terms (ANDed) and free words matched in subject or description."""
        terms = (request.arg("query") or "").split()
        wanted_type, tags, words = "ticket", [], []
        for term in terms:
            key, sep, value = term.partition(":")
            if sep and key == "type":
                wanted_type = value
            elif sep and key == "tags":
                tags.append(value)
            elif sep:
                raise SandboxError(400, f"the sandbox does not search by {key}", code="InvalidSearch")
            else:
                words.append(term.lower())
        if wanted_type != "ticket":
            raise SandboxError(
                400, f"the sandbox searches tickets only, not {wanted_type}", code="InvalidSearch"
            )
        with self.lock:
            results = [
                {**t, "result_type": "ticket"}
                for t in self.tables["ticket"].values()
                if all(tag in self._indexed_tags(t["id"]) for tag in tags)
                and all(w in f"{t['subject']} {t['description']}".lower() for w in words)
            ]
        return self.json(
            {
                "results": results,
                "facets": None,
                "next_page": None,
                "previous_page": None,
                "count": len(results),
            }
        )

    def _indexed_tags(self, ticket_id: int) -> list[str]:
        """The ticket's tags as search sees them: as they were ``search_lag_seconds`` ago."""
        horizon = self.now() - self.search_lag_seconds
        seen = [tags for stamp, tags in self.tables["indexed_tags"][str(ticket_id)] if stamp <= horizon]
        return seen[-1] if seen else []

    # Webhooks -------------------------------------------------------------------------------------
    def _emit(self, *, ticket: dict[str, Any], event: dict[str, Any]) -> None:
        field = event.get("field_name", "")
        kinds = {"Comment": "comment_added", "Create": "created"}
        kind = kinds.get(event["type"]) or _EVENT_NAMES.get(field, f"{field}_changed")
        self.emit_webhook(
            {
                "type": f"zen:event-type:ticket.{kind}",
                "account_id": 1,
                "id": str(uuid.uuid4()),
                "time": iso(self.now()),
                "zendesk_event_version": "2022-11-06",
                "subject": f"zen:ticket:{ticket['id']}",
                "detail": ticket,
                "event": event,
            }
        )
