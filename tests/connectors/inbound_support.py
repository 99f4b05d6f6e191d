"""Shared by the inbound tests: connections with webhook secrets, and replaying what the sandbox sent."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from email.message import Message
from typing import Any

from django.test import Client
from django.urls import reverse

from connectors.models import Connection
from connectors.sandbox.intercom import IntercomSandbox
from connectors.sandbox.salesforce import SalesforceSandbox
from connectors.sandbox.server import Request, Response, SandboxApp
from connectors.sandbox.zendesk import ZendeskSandbox

SALESFORCE_SECRET = "sf-outbound-shared-secret"

#: The secret each sandbox signs webhooks with, and the API credentials its connector needs.
CREDENTIALS: dict[str, dict[str, str]] = {
    "zendesk": {
        "webhook_secret": ZendeskSandbox.webhook_secret,
        "email": "agent@example.com",
        "token": "sandbox-token",
    },
    "intercom": {"webhook_secret": IntercomSandbox.client_secret, "token": "sandbox-token"},
    "hubspot": {"webhook_secret": "sandbox-client-secret", "access_token": "sandbox-token"},
    "salesforce": {"webhook_secret": SALESFORCE_SECRET, "access_token": "sandbox-session"},
}


def make_connection(
    vendor: str, *, base_url: str = "http://127.0.0.1:9", name: str | None = None, **options: Any
) -> Connection:
    credentials = dict(CREDENTIALS[vendor])
    if vendor == "salesforce":
        options.setdefault("organization_id", SalesforceSandbox().organization_id)
    connection = Connection(name=name or f"{vendor}-main", vendor=vendor, base_url=base_url, options=options)
    connection.set_credentials(credentials)
    connection.save()
    return connection


def webhook_path(connection: Connection) -> str:
    path = reverse("connectors:webhook", args=[connection.vendor, connection.name])
    return f"{path}?secret={SALESFORCE_SECRET}" if connection.vendor == "salesforce" else path


def post_delivery(client: Client, path: str, delivery: Mapping[str, Any]) -> Any:
    """POST one delivery the inbox captured (its body and the vendor's headers) to ``path``."""
    headers = {
        name: value
        for name, value in delivery["headers"].items()
        if name.startswith("x-") and name != "x-forwarded-for"
    }
    content_type = delivery["headers"].get("content-type", "application/json")
    return client.post(path, data=delivery["body"], content_type=content_type, headers=headers)


def post_all(client: Client, path: str, deliveries: Iterable[Mapping[str, Any]]) -> list[int]:
    return [post_delivery(client, path, d).status_code for d in deliveries]


def call(app: SandboxApp, method: str, path: str, body: Any = None) -> Response:
    """Call an emulator's route in-process (fast set-up of many changes; webhooks still go over HTTP)."""
    headers = Message()
    token = "sandbox-session" if app.name == "salesforce" else "sandbox-token"
    headers["Authorization"] = f"Bearer {token}"
    request = Request(
        method=method, path=path, query={}, headers=headers, body=json.dumps(body or {}).encode()
    )
    response = app.call_handler(request)
    assert response.status < 300, response.body
    return response


def send_ticket_changes(
    app: ZendeskSandbox, inbox_url: str, *, deliveries: int, versions: int, duplicate_rate: float, seed: int
) -> int:
    """Make the Zendesk sandbox send about ``deliveries`` webhooks to ``inbox_url``: enough tickets
    changed ``versions`` times each, one second apart (Zendesk's timestamps are whole seconds), the
    subject of version v being ``T<id> v<v>``; repeated and shuffled. Returns how many tickets."""
    entities = math.ceil(deliveries / (1 + duplicate_rate) / versions)
    user = app.add_user(name="Ann Example", email="ann@example.com")
    tickets = [
        app.add_ticket(subject=f"T{n}", description=f"Question {n}", requester_id=user["id"])
        for n in range(entities)
    ]
    app.webhooks.configure(
        url=inbox_url, duplicate_rate=duplicate_rate, shuffle=True, seed=seed, batch_seconds=5
    )
    for version in range(versions):
        app.clock_offset = version
        for ticket in tickets:
            path = f"/api/v2/tickets/{ticket['id']}.json"
            call(app, "PUT", path, {"ticket": {"subject": f"T{ticket['id']} v{version}"}})
    assert app.webhooks.drain(timeout=600)
    return entities
