"""OpenAPI fuzz run: schemathesis generates requests from /api/schema/ for every operation and sends
them to the Django app in-process (WSGI); no answer may be a 5xx. Bounded in examples per operation
(FUZZ_EXAMPLES, default 15) and without Hypothesis' example database, so a run is repeatable and short."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from approvals.services import action_route
from security.choices import Scope
from security.services import apikey_create
from tests.factories import LeadFactory, ProposedActionFactory, TicketFactory, UserFactory

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


@pytest.fixture
def api_schema(db):
    from agentops.wsgi import application

    # The WSGI handler would close the test's connection (and its transaction) after each request;
    # Django's test client avoids that the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.from_wsgi("/api/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def key_header(db):
    """An integration with every permission and scope, and something to read and decide."""
    user = UserFactory(username="fuzzer")
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["add_proposedaction", "change_proposedaction", "add_lead", "change_lead"]
        )
    )
    LeadFactory()
    TicketFactory()
    action_route(action_id=ProposedActionFactory().pk)
    plain = apikey_create(user=user, name="fuzz", scopes=Scope.values, rate_per_minute=100_000).plain
    return {"Authorization": f"Bearer {plain}"}


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_server_error(case, key_header):
    response = case.call_wsgi(headers=key_header)
    case.validate_response(response, checks=(not_a_server_error,))
