"""The Python client against a live server on 127.0.0.1: propose, wait, decorate, fail closed."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connections

from agentops_client import (
    AgentOpsClient,
    AgentOpsError,
    ApprovalRejected,
    ApprovalTimeout,
    PayloadChanged,
    ProposalInvalid,
    idempotency_key_for,
    require_approval,
)
from approvals.models import ProposedAction
from approvals.services import action_approve, action_reject
from security.services import apikey_create
from tests.factories import UserFactory, payload_seen, user_in_role

# Same as tests/browser: the live server listens on the loopback address only.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

PASSWORD = "pw-for-tests-1"  # tests.factories.UserFactory's
EMAIL = {"to": "ada@example.com", "subject": "Quick question", "body": "Hi Ada"}


# The test thread and the server's request threads take turns with the database: with the in-memory
# SQLite test database they share one connection, and two transactions interleaving on it would mix.
DB_TURN = threading.RLock()


@pytest.fixture
def server(live_server):
    """The live server, one request at a time and in turns with the test's own database work.

    pytest-django's session-wide live server starts before the test database exists, so it does not
    share the in-memory database's connection the way Django's LiveServerTestCase does; request
    threads would open their own and collide with this thread ("database table is locked") while the
    client polls and the test decides. So: share the connection, and hold ``DB_TURN`` around each
    request. On PostgreSQL each thread keeps its own connection; the turns are merely harmless.
    """
    overrides = live_server.thread.connections_override
    connection = connections["default"]
    shared = connection.vendor == "sqlite" and connection.is_in_memory_db() and "default" not in overrides
    if shared:
        connection.inc_thread_sharing()
        overrides["default"] = connection
    httpd = live_server.thread.httpd
    application, handle = httpd.get_app(), httpd.process_request_thread
    busy = threading.Condition()
    in_flight = [0]

    def in_turn(environ: dict[str, Any], start_response: Any) -> Any:
        with DB_TURN:
            return application(environ, start_response)

    def counted(*args: Any) -> None:
        # A request thread closes its connections after answering; stop sharing only once it has.
        with busy:
            in_flight[0] += 1
        try:
            handle(*args)
        finally:
            with busy:
                in_flight[0] -= 1
                busy.notify_all()

    httpd.set_app(in_turn)
    httpd.process_request_thread = counted
    yield live_server
    with busy:
        busy.wait_for(lambda: in_flight[0] == 0, timeout=10)
    httpd.set_app(application)
    httpd.process_request_thread = handle
    if shared:
        del overrides["default"]
        connection.dec_thread_sharing()


@pytest.fixture
def client(server) -> AgentOpsClient:
    bot = user_in_role("Integration accounts", username="bot")  # polls what it proposed (security.roles)
    bot.user_permissions.add(Permission.objects.get(codename="add_proposedaction"))
    key = apikey_create(user=bot, name="bot", scopes=["submit_actions"]).plain
    return AgentOpsClient(server.url, api_key=key, timeout=60)


@pytest.fixture
def approver():
    return UserFactory(username="sofia")


def _in_background(function, *args: Any, **kwargs: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``function`` in a thread (it only talks HTTP); the outcome lands in the returned dict."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = function(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the test to assert on
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _proposed(timeout: float = 10.0) -> ProposedAction:
    """The action the client proposed, once it waits for a human."""
    deadline = time.monotonic() + timeout
    while True:
        with DB_TURN:
            action = ProposedAction.objects.filter(status="pending_approval").first()
        if action is not None:
            return action
        assert time.monotonic() < deadline, "the client never proposed"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_it_waits_while_pending_and_sees_the_approved_edited_payload(client, approver):
    proposal = client.propose(kind="send_email", payload=EMAIL, rationale="Asked for a demo", confidence=0.8)
    assert (proposal.status, proposal.created) == ("pending_approval", True)
    assert proposal.url.endswith(f"/api/v1/actions/{proposal.id}/")

    thread, outcome = _in_background(client.wait, proposal.id, timeout=10, poll_interval=0.05)
    time.sleep(0.2)  # the client polls at least once while the action is pending
    assert thread.is_alive()
    with DB_TURN:
        action_approve(
            action_id=proposal.id,
            user=approver,
            seen_payload_sha256=payload_seen(proposal.id),
            edits={"subject": "Your demo"},
        )
    thread.join(10)

    decided = outcome["result"]
    assert decided.status == "approved" and decided.payload == {**EMAIL, "subject": "Your demo"}
    assert (
        decided.approved_payload_sha256 == ProposedAction.objects.get(pk=proposal.id).approved_payload_sha256
    )
    assert decided.decisions[-1]["outcome"] == "edit_approve"


@pytest.mark.django_db(transaction=True)
def test_an_approver_approves_what_it_read_and_is_told_when_it_changed(server, client, approver):
    from approvals.models import ApprovalPolicy

    ApprovalPolicy.objects.create(name="E-mails twice", outcome="two_approvals", kinds=["send_email"])
    proposal = client.propose(kind="send_email", payload=EMAIL, rationale="r", confidence=0.8)
    ana = user_in_role("SDR managers", username="ana")
    reviewer = AgentOpsClient(
        server.url, api_key=apikey_create(user=ana, name="ana", scopes=["decide_actions"]).plain, timeout=60
    )
    read = reviewer.get(proposal.id)
    with DB_TURN:
        action_approve(
            action_id=proposal.id,
            user=approver,
            seen_payload_sha256=payload_seen(proposal.id),
            edits={"subject": "Changed by Sofia"},
        )

    with pytest.raises(PayloadChanged) as refused:
        reviewer.approve(read)

    assert refused.value.changes == {"subject": {"from": "Quick question", "to": "Changed by Sofia"}}
    assert ProposedAction.objects.get(pk=proposal.id).decisions.count() == 1
    approved = reviewer.approve(reviewer.get(proposal.id))
    assert approved.status == "approved" and approved.payload["subject"] == "Changed by Sofia"


@pytest.mark.django_db(transaction=True)
def test_proposing_the_same_content_twice_gives_the_same_action(client):
    first = client.propose(kind="send_email", payload=EMAIL, rationale="r", confidence=0.8)
    again = client.propose(
        kind="send_email", payload=dict(reversed(EMAIL.items())), rationale="r", confidence=0.8
    )
    assert again.id == first.id and again.created is False
    assert ProposedAction.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_decorator_runs_the_function_with_the_approved_edited_arguments(client, approver):
    sent: list[dict[str, str]] = []

    @require_approval(client, kind="send_email", rationale=lambda p: f"Reply to {p['to']}", confidence=0.7,
                      timeout=10, poll_interval=0.05)  # fmt: skip
    def send_email(to: str, subject: str, body: str) -> str:
        sent.append({"to": to, "subject": subject, "body": body})
        return "sent"

    thread, outcome = _in_background(send_email, "ada@example.com", subject="Quick question", body="Hi Ada")
    action = _proposed()
    assert action.payload == EMAIL and action.rationale == "Reply to ada@example.com"
    assert sent == []  # nothing runs before the decision
    with DB_TURN:
        action_approve(
            action_id=action.pk,
            user=approver,
            seen_payload_sha256=payload_seen(action.pk),
            edits={"body": "Hi Ada, here is the deck."},
        )
    thread.join(10)

    assert outcome == {"result": "sent"}
    assert sent == [{**EMAIL, "body": "Hi Ada, here is the deck."}]


@pytest.mark.django_db(transaction=True)
def test_the_decorator_raises_when_rejected_and_never_runs_the_function(client, approver):
    calls: list[str] = []

    @require_approval(client, kind="send_email", rationale="follow-up", confidence=0.6, timeout=10,
                      poll_interval=0.05)  # fmt: skip
    def send_email(to: str, subject: str, body: str) -> None:
        calls.append(to)

    thread, outcome = _in_background(send_email, **EMAIL)
    action = _proposed()
    with DB_TURN:
        action_reject(
            action_id=action.pk, user=approver, reason_code="bad_timing", comment="after the holidays"
        )
    thread.join(10)

    error = outcome["error"]
    assert isinstance(error, ApprovalRejected) and calls == []
    assert (error.reason_code, error.comment, error.result.status) == (
        "bad_timing",
        "after the holidays",
        "rejected",
    )
    assert "bad_timing" in str(error)


@pytest.mark.django_db(transaction=True)
def test_an_invalid_payload_raises_proposal_invalid_naming_the_field(client):
    @require_approval(client, kind="send_email", rationale="r", confidence=0.7, timeout=1)
    def send_email(to: str, body: str) -> None:
        raise AssertionError("must not run")

    with pytest.raises(ProposalInvalid) as excinfo:
        send_email(to="ada@example.com", body="Hi")
    assert excinfo.value.field == "payload.subject" and excinfo.value.error == "payload.subject: is required"
    with pytest.raises(ProposalInvalid, match="kind"):
        client.propose(kind="drop_database", payload={}, rationale="r", confidence=0.5)
    assert ProposedAction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_times_out_while_nobody_decides(client):
    proposal = client.propose(kind="send_email", payload=EMAIL, rationale="r", confidence=0.8)
    started = time.monotonic()
    with pytest.raises(ApprovalTimeout, match="still pending_approval") as excinfo:
        client.wait(proposal.id, timeout=0.3, poll_interval=0.05)
    assert excinfo.value.last_status == "pending_approval"
    assert time.monotonic() - started < 3


@pytest.mark.django_db(transaction=True)
def test_wrong_credentials_or_a_missing_permission_are_errors_not_retries(server):
    UserFactory(username="reader")
    with pytest.raises(AgentOpsError) as excinfo:
        AgentOpsClient(server.url, username="reader", password="wrong").get(1)
    assert excinfo.value.status in (401, 403) and not excinfo.value.retryable
    reader = AgentOpsClient(server.url, username="reader", password=PASSWORD)
    with pytest.raises(AgentOpsError, match="approvals.add_proposedaction") as excinfo:
        reader.propose(kind="send_email", payload=EMAIL, rationale="r", confidence=0.5)
    assert excinfo.value.status == 403
    with pytest.raises(AgentOpsError, match="HTTP 404"):
        reader.wait(999_999, timeout=1)


@pytest.mark.django_db(transaction=True)
def test_basic_authentication_still_works_and_a_revoked_key_is_refused(server):
    bot = user_in_role("Integration accounts", username="bot")  # polls what it proposed (security.roles)
    bot.user_permissions.add(Permission.objects.get(codename="add_proposedaction"))
    basic = AgentOpsClient(server.url, username="bot", password=PASSWORD, timeout=60)
    proposal = basic.propose(kind="send_email", payload=EMAIL, rationale="r", confidence=0.5)
    issued = apikey_create(user=bot, name="bot", scopes=["submit_actions"])
    assert AgentOpsClient(server.url, api_key=issued.plain).get(proposal.id).id == proposal.id
    issued.key.revoked_at = issued.key.created_at
    issued.key.save(update_fields=["revoked_at"])
    with pytest.raises(AgentOpsError) as excinfo:
        AgentOpsClient(server.url, api_key=issued.plain).get(proposal.id)
    assert excinfo.value.status == 401 and not excinfo.value.retryable
    with pytest.raises(ValueError, match="credentials"):
        AgentOpsClient(server.url)


def test_it_reports_an_unreachable_server_as_retryable():
    client = AgentOpsClient("http://127.0.0.1:9", username="u", password="p", timeout=1)
    with pytest.raises(AgentOpsError, match="no answer") as excinfo:
        client.get(1)
    assert excinfo.value.retryable and excinfo.value.status is None


def test_the_derived_idempotency_key_depends_on_content_not_key_order():
    key = idempotency_key_for(kind="send_email", payload={"a": 1, "b": 2}, target={"lead": 3})
    assert key == idempotency_key_for(kind="send_email", payload={"b": 2, "a": 1}, target={"lead": 3})
    assert key != idempotency_key_for(kind="send_email", payload={"a": 1, "b": 2}, target={"lead": 4})
    assert key.startswith("client:") and len(key) <= 128


def test_it_refuses_functions_whose_arguments_cannot_be_named_and_non_http_servers():
    client = AgentOpsClient("http://127.0.0.1:9", username="u", password="p")
    with pytest.raises(TypeError, match="'args' cannot be named"):
        require_approval(client, kind="send_email", rationale="r", confidence=0.5)(lambda *args: None)
    with pytest.raises(ValueError, match="base_url"):
        AgentOpsClient("file:///etc/passwd", username="u", password="p")
