"""The red team's agent is what an agent is in production: it proposes over HTTP with its key, and
it holds no scope beyond an agent's (deciding its own proposals, exporting the log or reading every
action are refused)."""

from __future__ import annotations

import pytest

from tests.redteam.conftest import AGENT_SCOPES

pytestmark = pytest.mark.django_db


def test_it_proposes_over_http_with_its_key(agent):
    response = agent.propose()
    assert response.status_code == 201, response.json()
    assert response.json()["proposed_by"] == "api:agent-bot"


def test_it_holds_only_an_agents_scopes(agent):
    assert sorted(agent.key.scopes) == sorted(str(s) for s in AGENT_SCOPES)
    assert agent.get("/api/v1/audit/export/").status_code in (403, 404)
