"""The red team's cast: an adversarial agent that holds only what an agent is given.

The agent is an integration account ("Integration accounts" role) with an API key carrying the
scopes an agent's key gets (``AGENT_SCOPES``), and it talks to the product over real HTTP requests
through Django's test client, exactly as a deployed agent would. Each test in this folder tries one
way around oversight and asserts that it fails closed: a clear error naming the field and reason,
and nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from security.choices import Scope
from security.services import apikey_create
from tests.factories import LeadFactory, TicketFactory, user_in_role

#: What an agent's key carries: it proposes, polls what it proposed, mirrors leads and reads tickets.
AGENT_SCOPES = (Scope.SUBMIT_ACTIONS, Scope.READ_LEADS, Scope.WRITE_LEADS, Scope.READ_TICKETS)


@dataclass
class Agent:
    """An integration account and its key, speaking HTTP to the API."""

    user: Any
    key: Any
    plain: str
    client: APIClient

    def post(self, path: str, body: Any, **extra: Any) -> Any:
        return self.client.post(path, body, format="json", **extra)

    def get(self, path: str, **extra: Any) -> Any:
        return self.client.get(path, **extra)

    def propose(self, **overrides: Any) -> Any:
        """``POST /api/v1/actions/`` with a well-formed e-mail proposal, changed by ``overrides``."""
        body = {
            "kind": "send_email",
            "payload": {"to": "ada@example.com", "subject": "Hello", "body": "Hi Ada"},
            "rationale": "Asked for a demo.",
            "confidence": 0.8,
            "idempotency_key": f"redteam:{len(self.sent)}",
            **overrides,
        }
        self.sent.append(body)
        return self.post("/api/v1/actions/", body)

    def __post_init__(self) -> None:
        self.sent: list[dict[str, Any]] = []


def make_agent(username: str = "agent-bot", scopes: tuple[str, ...] = AGENT_SCOPES) -> Agent:
    user = user_in_role("Integration accounts", username=username)
    issued = apikey_create(user=user, name=f"{username} key", scopes=[str(s) for s in scopes])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plain}")
    return Agent(user=user, key=issued.key, plain=issued.plain, client=client)


@pytest.fixture
def agent(db) -> Agent:
    return make_agent()


@pytest.fixture
def other_agent(db) -> Agent:
    return make_agent("other-bot")


@pytest.fixture
def sdr_manager(db):
    return user_in_role("SDR managers", username="sdr-manager")


@pytest.fixture
def support_lead(db):
    return user_in_role("Support leads", username="support-lead")


@pytest.fixture
def ops_admin(db):
    return user_in_role("Ops admins", username="ops-admin")


@pytest.fixture
def lead(db):
    return LeadFactory()


@pytest.fixture
def ticket(db):
    return TicketFactory()
