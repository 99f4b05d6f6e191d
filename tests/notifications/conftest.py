from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import Group

from notifications.models import NotificationSettings
from tests.factories import UserFactory


@dataclass
class FakeSlack:
    """A real HTTP server on 127.0.0.1 that records what webhooks POST to it."""

    url: str
    status: int = 200
    received: list[dict] = field(default_factory=list)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    state = FakeSlack(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            state.received.append(
                {
                    "path": self.path,
                    "type": self.headers.get("Content-Type"),
                    "json": json.loads(self.rfile.read(length)),
                }
            )
            self.send_response(state.status)
            self.end_headers()
            self.wfile.write(b"ok" if state.status == 200 else b"no")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hooks/T000/B000"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def config(db) -> NotificationSettings:
    """The settings row (made by the migration; recreated for transactional tests that flushed it)."""
    settings_row, _ = NotificationSettings.objects.get_or_create(singleton=True)
    settings_row.base_url = "https://agentops.example.com"
    settings_row.save()
    return settings_row


@dataclass
class Team:
    group: Group
    owner: object  # member with an address: gets email
    teammate: object  # member with an address: gets email
    mute: object  # member without an address
    gone: object  # inactive member
    outsider: object  # in no group


@pytest.fixture
def team(db) -> Team:
    group = Group.objects.get_or_create(name="SDR managers")[0]
    owner = UserFactory(username="sofia", first_name="Sofia")
    teammate = UserFactory(username="liam")
    mute = UserFactory(username="mute", email="")
    gone = UserFactory(username="gone", is_active=False)
    for user in (owner, teammate, mute, gone):
        user.groups.add(group)
    return Team(group, owner, teammate, mute, gone, UserFactory(username="outsider"))
