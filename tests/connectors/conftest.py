"""Fixtures shared by the connector tests: serve any sandbox emulator on an ephemeral port."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from connectors.sandbox.server import Request, Response, RunningSandbox, SandboxApp, route, start_sandbox


@pytest.fixture
def serve_sandbox() -> Iterator[Callable[[SandboxApp], RunningSandbox]]:
    """``serve_sandbox(app)`` serves ``app`` on 127.0.0.1 and stops it after the test."""
    running: list[RunningSandbox] = []

    def serve(app: SandboxApp) -> RunningSandbox:
        sandbox = start_sandbox(app)
        running.append(sandbox)
        return sandbox

    yield serve
    for sandbox in running:
        sandbox.stop()


class WebhookInbox(SandboxApp):
    """A receiver for the emulators' webhooks: keeps each delivery's path, query, headers (names in
    lower case) and body."""

    name = "webhook-inbox"

    @route("POST", r"/.*")
    def receive(self, request: Request) -> Response:
        with self.lock:
            self.tables["deliveries"][str(len(self.tables["deliveries"]))] = {
                "path": request.path,
                "query": request.query,
                "headers": {k.lower(): v for k, v in request.headers.items()},  # names are case-blind
                "body": request.body,
            }
        return self.json(None, status=204)

    def deliveries(self) -> list[dict]:
        with self.lock:
            table = self.tables["deliveries"]
            return [table[str(n)] for n in range(len(table))]


@pytest.fixture
def webhook_inbox(serve_sandbox) -> RunningSandbox:
    """A running ``WebhookInbox``: point an emulator's webhooks at ``f"{inbox.url}/hooks"``."""
    return serve_sandbox(WebhookInbox())
