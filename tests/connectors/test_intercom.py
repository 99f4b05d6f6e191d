"""The Intercom connector drives python-intercom 5 against the Intercom sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors import helpdesk, signatures
from connectors.base import ConnectionConfig, ConnectorError, UnsupportedOperation
from connectors.intercom.connector import MARKER_ATTRIBUTE, IntercomConnector, marker_comment, marker_token
from connectors.registry import connector_for
from connectors.sandbox import emulators
from connectors.sandbox.intercom import IntercomSandbox
from connectors.sandbox.server import FaultConfig, RateLimiter, RunningSandbox, SandboxApp
from tests.connectors.webhooks import Receiver


@pytest.fixture
def app() -> IntercomSandbox:
    return IntercomSandbox()


@pytest.fixture
def sandbox(app: IntercomSandbox, serve_sandbox: Callable[[SandboxApp], RunningSandbox]) -> RunningSandbox:
    return serve_sandbox(app)


@pytest.fixture
def admin(app: IntercomSandbox) -> dict[str, Any]:
    return app.add_admin(name="Ada Agent", email="ada@example.com")


def _config(url: str, admin_id: str, timeout: float = 5.0) -> ConnectionConfig:
    return ConnectionConfig(
        vendor="intercom",
        base_url=url,
        credentials={"token": "sandbox-token", "admin_id": admin_id},
        timeout_seconds=timeout,
    )


@pytest.fixture
def intercom(sandbox: RunningSandbox, admin: dict[str, Any]) -> IntercomConnector:
    connector = connector_for(_config(sandbox.url, admin["id"]))
    assert isinstance(connector, IntercomConnector)
    return connector


@pytest.fixture
def contact(app: IntercomSandbox) -> dict[str, Any]:
    return app.add_contact(name="Ann Example", email="ann@example.com")


@pytest.fixture
def conversation(app: IntercomSandbox, contact: dict[str, Any]) -> dict[str, Any]:
    return app.add_conversation(contact_id=contact["id"], body="I was charged twice", subject="Refund")


def test_it_is_registered_for_intercom_with_its_emulator() -> None:
    assert emulators()["intercom"] is IntercomSandbox


# Reads --------------------------------------------------------------------------------------------
def test_it_reads_a_conversation_as_a_ticket(
    intercom: IntercomConnector, conversation: dict[str, Any]
) -> None:
    record = intercom.read("ticket", conversation["id"])

    assert (record.kind, record.vendor_id) == ("ticket", conversation["id"])
    assert record.fields["state"] == "open"
    assert record.fields["source"]["body"] == "<p>I was charged twice</p>"
    assert record.modified_at == datetime.fromtimestamp(conversation["updated_at"], tz=UTC)


def test_it_reads_a_contact(intercom: IntercomConnector, contact: dict[str, Any]) -> None:
    record = intercom.read("contact", contact["id"])

    assert (record.kind, record.fields["email"]) == ("contact", "ann@example.com")


def test_it_has_no_leads(intercom: IntercomConnector) -> None:
    with pytest.raises(UnsupportedOperation):
        intercom.read("lead", "1")
    with pytest.raises(UnsupportedOperation):
        intercom.create_task(about_kind="ticket", about_id="1", subject="s", body="b", marker="m")


def test_it_pages_changed_conversations_oldest_first(
    intercom: IntercomConnector,
    app: IntercomSandbox,
    contact: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given_five_conversations_an_hour_apart = []
    for hour in range(5):
        app.clock_offset = -3600 * (5 - hour)
        given_five_conversations_an_hour_apart.append(
            app.add_conversation(contact_id=contact["id"], body=f"C{hour}")
        )
    app.clock_offset = 0
    monkeypatch.setattr(helpdesk, "PAGE_SIZE", 2)
    since = datetime.fromtimestamp(given_five_conversations_an_hour_apart[1]["updated_at"], tz=UTC)

    first = intercom.changed_since("ticket", since=since)
    second = intercom.changed_since("ticket", since=since, cursor=first.next_cursor)

    assert [r.fields["source"]["body"] for r in first.records] == ["<p>C1</p>", "<p>C2</p>"]
    assert first.next_cursor is not None
    assert [r.fields["source"]["body"] for r in second.records] == ["<p>C3</p>", "<p>C4</p>"]
    assert second.next_cursor is None
    assert intercom.changed_since("ticket", since=datetime.now(tz=UTC).replace(year=2100)).records == []


# Writes -------------------------------------------------------------------------------------------
def test_it_posts_a_public_reply_as_the_admin_with_a_hidden_marker(
    intercom: IntercomConnector, app: IntercomSandbox, conversation: dict[str, Any], admin: dict[str, Any]
) -> None:
    result = intercom.post_public_reply(ticket_id=conversation["id"], body="<p>Refunded.</p>", marker="act-1")

    assert (result.vendor_id, result.created, result.marker) == (conversation["id"], True, "act-1")
    part = app.parts(conversation["id"])[-1]
    assert (part["part_type"], part["author"]["id"]) == ("comment", admin["id"])
    assert part["body"] == "<p>Refunded.</p><!-- agentops:act-1 -->"
    assert intercom.read("ticket", conversation["id"]).fields["custom_attributes"] == {
        MARKER_ATTRIBUTE: "act-1"
    }
    assert app.effects[("create", "admin comment")] == 1


def test_it_adds_an_internal_note(
    intercom: IntercomConnector, app: IntercomSandbox, conversation: dict[str, Any]
) -> None:
    intercom.add_internal_note(ticket_id=conversation["id"], body="<p>VIP</p>", marker="act-2")

    assert app.parts(conversation["id"])[-1]["part_type"] == "note"
    assert app.effects[("create", "note")] == 1
    assert app.effects[("create", "admin comment")] == 0


def test_it_closes_and_assigns_to_a_team(
    intercom: IntercomConnector, app: IntercomSandbox, conversation: dict[str, Any]
) -> None:
    billing = app.add_team(name="Billing")

    result = intercom.set_ticket_status(
        ticket_id=conversation["id"], status="closed", group_id=billing["id"], marker="act-3"
    )

    fields = intercom.read("ticket", conversation["id"]).fields
    assert not result.created
    assert (fields["state"], fields["open"], fields["team_assignee_id"]) == ("closed", False, billing["id"])
    assert [p["part_type"] for p in app.parts(conversation["id"])] == ["assignment", "close", "note"]


def test_it_snoozes_and_reopens(intercom: IntercomConnector, conversation: dict[str, Any]) -> None:
    intercom.set_ticket_status(ticket_id=conversation["id"], status="snoozed", marker="act-4")
    snoozed = intercom.read("ticket", conversation["id"]).fields
    intercom.set_ticket_status(ticket_id=conversation["id"], status="open", marker="act-5")

    assert snoozed["state"] == "snoozed" and snoozed["snoozed_until"] > time.time()
    assert intercom.read("ticket", conversation["id"]).fields["state"] == "open"


def test_it_refuses_a_status_intercom_does_not_have(
    intercom: IntercomConnector, app: IntercomSandbox, conversation: dict[str, Any]
) -> None:
    error = _error(
        lambda: intercom.set_ticket_status(ticket_id=conversation["id"], status="pending", marker="m")
    )

    assert (error.code, error.retryable) == ("invalid", False)
    assert app.parts(conversation["id"]) == []


def test_a_reply_posted_twice_appears_twice(
    intercom: IntercomConnector, app: IntercomSandbox, conversation: dict[str, Any]
) -> None:
    for _ in range(2):
        intercom.post_public_reply(ticket_id=conversation["id"], body="<p>Same</p>", marker="act-6")

    assert [p["part_type"] for p in app.parts(conversation["id"])] == ["comment", "comment"]
    assert app.effects[("create", "admin comment")] == 2


# Markers ------------------------------------------------------------------------------------------
def test_it_finds_a_write_by_its_marker(intercom: IntercomConnector, conversation: dict[str, Any]) -> None:
    intercom.post_public_reply(ticket_id=conversation["id"], body="<p>Hi</p>", marker="act-7")

    found = intercom.find_by_marker("ticket", "act-7")

    assert found is not None and found.vendor_id == conversation["id"]
    assert intercom.find_by_marker("ticket", "act-unknown") is None


def test_earlier_markers_stay_findable_after_later_writes(
    intercom: IntercomConnector, conversation: dict[str, Any]
) -> None:
    intercom.post_public_reply(ticket_id=conversation["id"], body="<p>One</p>", marker="act-8")
    intercom.add_internal_note(ticket_id=conversation["id"], body="<p>Two</p>", marker="act-9")
    intercom.set_ticket_status(ticket_id=conversation["id"], status="closed", marker="act-10")

    assert all(intercom.find_by_marker("ticket", m) is not None for m in ("act-8", "act-9", "act-10"))


def test_a_located_write_without_its_proof_is_not_found(
    intercom: IntercomConnector, conversation: dict[str, Any], sandbox: RunningSandbox
) -> None:
    """The process died after setting the locator and before replying: the reply did not happen."""
    intercom.client.conversations.update(conversation["id"], custom_attributes={MARKER_ATTRIBUTE: "act-11"})

    assert intercom.find_by_marker("ticket", "act-11") is None


def test_a_marker_with_spaces_is_hashed_into_one_word() -> None:
    token = marker_token("Action 12 -- reply")

    assert token == marker_token("Action 12 -- reply") and " " not in token and "--" not in token
    assert marker_comment("act-13") == "<!-- agentops:act-13 -->"


# Errors -------------------------------------------------------------------------------------------
def _error(call: Callable[[], object]) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        call()
    return caught.value


def test_it_maps_a_missing_conversation_to_not_found(intercom: IntercomConnector) -> None:
    error = _error(lambda: intercom.read("ticket", "999999"))

    assert (error.status, error.code, error.retryable) == (404, "not_found", False)


def test_it_maps_an_unknown_team_to_invalid(
    intercom: IntercomConnector, conversation: dict[str, Any]
) -> None:
    error = _error(
        lambda: intercom.set_ticket_status(ticket_id=conversation["id"], group_id="404", marker="m")
    )

    assert (error.status, error.code, error.retryable) == (400, "invalid", False)


def test_it_maps_a_bad_token_to_unauthorised(
    app: IntercomSandbox, intercom: IntercomConnector, conversation: dict[str, Any]
) -> None:
    app.access_token = "the-real-token"

    error = _error(lambda: intercom.read("ticket", conversation["id"]))

    assert (error.status, error.code, error.retryable) == (401, "unauthorised", False)


def test_it_maps_429_to_retryable_with_the_retry_after(
    intercom: IntercomConnector, app: IntercomSandbox, conversation: dict[str, Any]
) -> None:
    app.faults.configure(FaultConfig(rate_limited=1.0, retry_after=4))

    error = _error(
        lambda: intercom.post_public_reply(ticket_id=conversation["id"], body="<p>Hi</p>", marker="m")
    )

    assert (error.status, error.code, error.retryable, error.retry_after) == (429, "rate_limited", True, 4.0)
    assert app.parts(conversation["id"]) == []


def test_the_emulated_limit_answers_with_intercom_headers(
    intercom: IntercomConnector, app: IntercomSandbox, conversation: dict[str, Any]
) -> None:
    app.rate_limit = RateLimiter(max_requests=1, window_seconds=10)
    first = intercom.client.conversations.with_raw_response.find(conversation["id"])

    error = _error(lambda: intercom.read("ticket", conversation["id"]))

    headers = {k.lower(): v for k, v in first.headers.items()}
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == ("1", "0")
    assert int(headers["x-ratelimit-reset"]) > time.time()
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.retry_after is not None and 0 < error.retry_after <= 10


def test_it_reads_the_wait_from_x_ratelimit_reset_when_there_is_no_retry_after() -> None:
    error = helpdesk.error_for_status(429, "slow down", {"X-RateLimit-Reset": "1000"}, now=990.0)

    assert error.retry_after == 10.0


def test_it_maps_5xx_to_retryable(
    intercom: IntercomConnector, app: IntercomSandbox, conversation: dict[str, Any]
) -> None:
    app.faults.configure(FaultConfig(server_error=1.0, server_error_status=502))

    error = _error(lambda: intercom.read("ticket", conversation["id"]))

    assert (error.status, error.code, error.retryable) == (502, "server_error", True)


def test_it_times_out_from_the_configured_timeout(
    app: IntercomSandbox, sandbox: RunningSandbox, admin: dict[str, Any], conversation: dict[str, Any]
) -> None:
    app.faults.configure(FaultConfig(timeout=1.0, timeout_seconds=1.0))
    impatient = IntercomConnector(_config(sandbox.url, admin["id"], timeout=0.2))

    error = _error(lambda: impatient.read("ticket", conversation["id"]))

    assert (error.code, error.retryable, error.status) == ("timeout", True, None)


def test_a_dropped_connection_after_the_reply_is_retryable_and_the_marker_shows_it_happened(
    intercom: IntercomConnector, app: IntercomSandbox, conversation: dict[str, Any]
) -> None:
    app.faults.configure(FaultConfig(drop=1.0, after_effect=1.0, path_pattern="/reply$"))

    error = _error(
        lambda: intercom.post_public_reply(ticket_id=conversation["id"], body="<p>Hi</p>", marker="act-14")
    )
    app.faults.configure(FaultConfig())

    assert (error.code, error.retryable) == ("connection", True)
    assert intercom.find_by_marker("ticket", "act-14") is not None
    assert app.effects[("create", "admin comment")] == 1


# Webhooks -----------------------------------------------------------------------------------------
def test_it_emits_signed_webhooks(
    intercom: IntercomConnector, app: IntercomSandbox, conversation: dict[str, Any]
) -> None:
    with Receiver() as receiver:
        app.webhooks.configure(url=receiver.url, batch_seconds=0)

        intercom.post_public_reply(ticket_id=conversation["id"], body="<p>Hi</p>", marker="act-15")
        assert app.webhooks.drain(timeout=5)

    topics = [json.loads(body)["topic"] for _, body in receiver.received]
    assert topics == ["conversation.updated", "conversation.admin.replied"]
    for headers, body in receiver.received:
        signature = headers[signatures.INTERCOM_SIGNATURE_HEADER]
        assert signatures.intercom_verify(client_secret=app.client_secret, body=body, signature=signature)


# Seeding over HTTP (what the demo does) -----------------------------------------------------------
def test_a_fresh_workspace_has_a_teammate_and_a_team_and_takes_contacts_and_conversations(
    app: IntercomSandbox, sandbox: RunningSandbox
) -> None:
    intercom = IntercomConnector(_config(sandbox.url, app.default_admin["id"]))
    client = intercom.client

    contact = client.contacts.create(request={"email": "di@example.com", "name": "Di"})
    message = client.conversations.create(from_={"type": "user", "id": contact.id}, body="Where is my card?")
    intercom.post_public_reply(
        ticket_id=str(message.conversation_id), body="<p>On its way.</p>", marker="act-16"
    )

    assert [a.id for a in client.admins.list().admins or [] if a] == [app.default_admin["id"]]
    assert [t.id for t in client.teams.list().teams or []] == [app.default_team["id"]]
    assert (
        intercom.read("ticket", str(message.conversation_id)).fields["source"]["body"]
        == "<p>Where is my card?</p>"
    )
    assert app.effects[("create", "contact")] == app.effects[("create", "conversation")] == 1
