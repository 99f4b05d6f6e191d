"""A helpdesk round trip for the support tests: the Zendesk and Intercom sandboxes served on
127.0.0.1, a connection with its routes for each, the customer's side spoken through the vendors'
HTTP APIs, and the deliveries they send posted, signed, to our webhook endpoint. Queued tasks are
run as a django-q worker would run them (taken from the ORM broker), so what is tested is what the
webhook view, the inbound processing and the bot queue, not a shortcut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from django.test import Client
from django.urls import reverse
from django.utils.module_loading import import_string
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from approvals.choices import ActionKind
from connectors.execution import ExecutionSettings, actions_execute
from connectors.models import ActionRoute, Connection
from connectors.resilience import RetryPolicy
from connectors.sandbox.intercom import IntercomSandbox
from connectors.sandbox.server import Request, Response, RunningSandbox, SandboxApp, route, start_sandbox
from connectors.sandbox.zendesk import ZendeskSandbox
from connectors.sync import SyncSummary, sync_run

#: The ports this suite's sandboxes may use (kept apart from other suites running on the machine).
PORTS = range(8171, 8180)
FAST = ExecutionSettings(retry=RetryPolicy(base_seconds=0.01, cap_seconds=0.05), idle_seconds=0.2)
HTTP_TIMEOUT = 5


class Inbox(SandboxApp):
    """Where the sandboxes send their webhooks: keeps each delivery's headers and body."""

    name = "support-inbox"

    @route("POST", r"/.*")
    def receive(self, request: Request) -> Response:
        with self.lock:
            self.tables["deliveries"][str(len(self.tables["deliveries"]))] = {
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": request.body,
            }
        return self.json(None, status=204)

    def take(self) -> list[dict[str, Any]]:
        with self.lock:
            table = self.tables["deliveries"]
            taken = [table[str(n)] for n in range(len(table))]
            table.clear()
            return taken


def run_queued_tasks(capture: Any) -> list[str]:
    """Run every task in the ORM broker, oldest first, until none is left (as a worker would); their
    on-commit callbacks (which queue further tasks) run too. Returns the tasks' function names."""
    assert Conf.ORM, "these tests read queued tasks from the ORM broker (REDIS_URL must be unset)"
    ran: list[str] = []
    while rows := list(OrmQ.objects.order_by("id")):
        for row in rows:
            task = SignedPackage.loads(row.payload)
            row.delete()
            func = import_string(task["func"]) if isinstance(task["func"], str) else task["func"]
            with capture(execute=True):
                func(*task.get("args", ()), **task.get("kwargs", {}))
            ran.append(func.__name__)
    return ran


@dataclass
class Helpdesk:
    """One vendor's sandbox and our connection to it, with the customer's and the agent's side."""

    vendor: str
    app: Any
    server: RunningSandbox
    inbox: Inbox
    connection: Connection
    capture: Any
    client: Client = field(default_factory=Client)
    delivered: list[dict[str, Any]] = field(default_factory=list)

    # HTTP to the sandbox, as the vendor's API -------------------------------------------------------
    def http(self, method: str, path: str, body: Any = None) -> Any:
        auth = (
            {"auth": ("agent@example.com/token", "sandbox-token")}
            if self.vendor == "zendesk"
            else {"headers": {"Authorization": "Bearer sandbox-token"}}
        )
        answer = requests.request(method, f"{self.server.url}{path}", json=body, timeout=HTTP_TIMEOUT, **auth)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def open_ticket(self, text: str, *, name: str = "Ana Silva", email: str = "ana@example.com") -> str:
        """The customer writes in; returns the helpdesk's id of the ticket."""
        if self.vendor == "zendesk":
            data = {
                "ticket": {
                    "subject": text[:40],
                    "comment": {"body": text},
                    "requester": {"name": name, "email": email},
                }
            }
            return str(self.http("POST", "/api/v2/tickets.json", data)["ticket"]["id"])
        contact = self.http("POST", "/contacts", {"email": email, "name": name, "role": "user"})
        self.contact_id = contact["id"]
        message = self.http(
            "POST", "/conversations", {"from": {"type": "user", "id": contact["id"]}, "body": text}
        )
        return str(message["conversation_id"])

    def customer_replies(self, ticket: str, text: str) -> None:
        if self.vendor == "zendesk":
            requester = self.http("GET", f"/api/v2/tickets/{ticket}.json")["ticket"]["requester_id"]
            comment = {"body": text, "author_id": requester, "public": True}
            self.http("PUT", f"/api/v2/tickets/{ticket}.json", {"ticket": {"comment": comment}})
        else:
            body = {
                "type": "user",
                "message_type": "comment",
                "intercom_user_id": self.contact_id,
                "body": text,
            }
            self.http("POST", f"/conversations/{ticket}/reply", body)

    def agent_solves(self, ticket: str) -> None:
        if self.vendor == "zendesk":
            self.http("PUT", f"/api/v2/tickets/{ticket}.json", {"ticket": {"status": "solved"}})
        else:
            admin = self.app.default_admin["id"]
            self.http("POST", f"/conversations/{ticket}/parts", {"message_type": "close", "admin_id": admin})

    def customer_rates(self, ticket: str, rating: str | int, comment: str = "") -> None:
        """The customer rates the ticket: Zendesk's requester posts a satisfaction rating ("good" or
        "bad") through the API; Intercom's customer rates 1–5 in the Messenger, which has no REST
        API (the sandbox's ``rate_conversation``)."""
        if self.vendor == "zendesk":
            rating_body = {"satisfaction_rating": {"score": rating, "comment": comment}}
            self.http("POST", f"/api/v2/tickets/{ticket}/satisfaction_rating.json", rating_body)
        else:
            self.app.rate_conversation(ticket, rating=int(rating), remark=comment)

    def rating(self, ticket: str) -> dict[str, Any]:
        """The ticket's rating as the helpdesk's API shows it: ``score``, ``comment`` and its time
        ``at`` (Zendesk's rating ``updated_at``; Intercom's ``conversation_rating.updated_at``)."""
        if self.vendor == "zendesk":
            held = self.http("GET", f"/api/v2/tickets/{ticket}.json")["ticket"]["satisfaction_rating"]
            found = self.http("GET", f"/api/v2/satisfaction_ratings/{held['id']}.json")["satisfaction_rating"]
            return {"score": found["score"], "comment": found["comment"], "at": found["updated_at"]}
        held = self.http("GET", f"/conversations/{ticket}")["conversation_rating"]
        return {"score": held["rating"], "comment": held["remark"] or "", "at": held["updated_at"]}

    def later(self, seconds: float) -> None:
        """Time passes at the helpdesk (stays inside the webhook signatures' five-minute window)."""
        self.app.clock_offset += seconds

    def add_group(self, name: str) -> str:
        """A group (Zendesk) or team (Intercom) of agents; returns its id in the helpdesk."""
        made = self.app.add_group(name=name) if self.vendor == "zendesk" else self.app.add_team(name=name)
        return str(made["id"])

    def add_agent(self, name: str) -> str:
        """An agent (Zendesk) or teammate (Intercom); returns its id in the helpdesk."""
        email = f"{name.lower()}@agents.example.com"
        if self.vendor == "zendesk":
            return str(self.app.add_user(name=name, email=email, role="agent")["id"])
        return str(self.app.add_admin(name=name, email=email)["id"])

    def assignment(self, ticket: str) -> dict[str, Any]:
        """The ticket's group, assignee, priority and tags as the helpdesk's API shows them
        (Intercom has a team and an assignee, neither of the others)."""
        if self.vendor == "zendesk":
            found = self.http("GET", f"/api/v2/tickets/{ticket}.json")["ticket"]
            group, assignee = found["group_id"], found["assignee_id"]
            return {
                "group": str(group) if group else None,
                "assignee": str(assignee) if assignee else None,
                "priority": found["priority"],
                "tags": found["tags"],
            }
        found = self.http("GET", f"/conversations/{ticket}")
        assignee = found["admin_assignee_id"]
        return {"group": found["team_assignee_id"], "assignee": str(assignee) if assignee else None}

    def messages(self, ticket: str) -> list[dict[str, Any]]:
        """What the helpdesk holds after the customer's first message, read through its API, as
        ``{"public": bool, "body": str}`` oldest first."""
        if self.vendor == "zendesk":
            comments = self.http("GET", f"/api/v2/tickets/{ticket}/comments.json")["comments"][1:]
            return [{"public": c["public"], "body": c["body"], "by_customer": False} for c in comments]
        parts = self.http("GET", f"/conversations/{ticket}")["conversation_parts"]["conversation_parts"]
        return [
            {
                "public": p["part_type"] == "comment",
                "body": p["body"],
                "by_customer": p["author"]["type"] == "user",
            }
            for p in parts
            if p["part_type"] in ("comment", "note")
        ]

    def ours(self, ticket: str) -> list[dict[str, Any]]:
        """The messages AgentOps wrote (not the customer's)."""
        if self.vendor == "zendesk":
            requester = self.http("GET", f"/api/v2/tickets/{ticket}.json")["ticket"]["requester_id"]
            comments = self.http("GET", f"/api/v2/tickets/{ticket}/comments.json")["comments"]
            return [
                {"public": c["public"], "body": c["body"]} for c in comments if c["author_id"] != requester
            ]
        return [m for m in self.messages(ticket) if not m["by_customer"]]

    # Our side -----------------------------------------------------------------------------------------
    def deliver(self) -> list[str]:
        """Post every webhook the sandbox sent so far to our endpoint (signed by the sandbox), then
        run what that queued: inbound processing, then the bot. Returns the tasks run."""
        assert self.app.webhooks.drain(timeout=10)
        deliveries = self.inbox.take()
        self.delivered += deliveries
        return self._post(deliveries)

    def lose_webhooks(self) -> int:
        """Every webhook the sandbox sent so far is lost on the way; returns how many."""
        assert self.app.webhooks.drain(timeout=10)
        return len(self.inbox.take())

    def sync(self) -> SyncSummary:
        """The scheduled incremental sync of tickets, then what its processing queued."""
        with self.capture(execute=True):
            summary = sync_run(connection=self.connection, kind="ticket")
        run_queued_tasks(self.capture)
        return summary

    def redeliver_all(self) -> list[str]:
        """The vendor delivers every webhook again (as after a timeout on its side)."""
        return self._post(self.delivered)

    def _post(self, deliveries: list[dict[str, Any]]) -> list[str]:
        path = reverse("connectors:webhook", args=[self.vendor, self.connection.name])
        for delivery in deliveries:
            headers = {
                k: v for k, v in delivery["headers"].items() if k.startswith("x-") and k != "x-forwarded-for"
            }
            with self.capture(execute=True):
                answer = self.client.post(
                    path, data=delivery["body"], content_type="application/json", headers=headers
                )
            assert answer.status_code == 200, answer.status_code
        return run_queued_tasks(self.capture)

    def execute(self) -> dict[str, int]:
        """The executor's run: every approved write goes out to the helpdesk."""
        with self.capture(execute=True):
            return actions_execute(settings=FAST).counts

    def round_trip(self) -> None:
        """Deliver, execute, and deliver what our own writes sent back (which must change nothing)."""
        self.deliver()
        self.execute()
        self.deliver()


def _serve(app: SandboxApp) -> RunningSandbox:
    """``app`` on the first free port of ``PORTS`` (two runs of the suite may overlap)."""
    for port in PORTS:
        try:
            return start_sandbox(app, port=port)
        except OSError:
            continue
    raise OSError(f"no free port in {PORTS.start}–{PORTS.stop - 1}")


def make_helpdesk(vendor: str, capture: Any, servers: list[RunningSandbox]) -> Helpdesk:
    app: Any = ZendeskSandbox() if vendor == "zendesk" else IntercomSandbox()
    inbox = Inbox()
    inbox_server = _serve(inbox)
    server = _serve(app)
    servers += [inbox_server, server]
    app.webhooks.configure(url=f"{inbox_server.url}/hooks")
    if vendor == "zendesk":
        credentials = {
            "webhook_secret": ZendeskSandbox.webhook_secret,
            "email": "agent@example.com",
            "token": "sandbox-token",
        }
        options: dict[str, Any] = {"search_lag_seconds": 0}
    else:
        credentials = {
            "webhook_secret": IntercomSandbox.client_secret,
            "token": "sandbox-token",
            "admin_id": app.default_admin["id"],
        }
        options = {}
    connection = Connection(
        name=f"{vendor}-support",
        vendor=vendor,
        base_url=server.url,
        options=options,
        write_scopes=[
            ActionKind.POST_PUBLIC_REPLY,
            ActionKind.ADD_INTERNAL_NOTE,
            ActionKind.HANDOFF_TO_HUMAN,
        ],
    )
    connection.set_credentials(credentials)
    connection.save()
    for kind in (ActionKind.POST_PUBLIC_REPLY, ActionKind.ADD_INTERNAL_NOTE, ActionKind.HANDOFF_TO_HUMAN):
        ActionRoute.objects.create(kind=kind, domain="support", connection=connection)
    return Helpdesk(vendor, app, server, inbox, connection, capture)
