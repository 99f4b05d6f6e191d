"""The Zendesk connector drives zenpy against the Zendesk sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from zenpy.lib.api_objects import Comment, Group, Ticket, User

from connectors import helpdesk, signatures
from connectors.base import ConnectionConfig, ConnectorError, UnsupportedOperation
from connectors.registry import connector_for
from connectors.sandbox import emulators
from connectors.sandbox.server import FaultConfig, RateLimiter, RunningSandbox, SandboxApp
from connectors.sandbox.zendesk import ZendeskSandbox
from connectors.zendesk.connector import ZendeskConnector, _zenpy_target, marker_tag
from tests.connectors.webhooks import Receiver


@pytest.fixture
def app() -> ZendeskSandbox:
    return ZendeskSandbox()


@pytest.fixture
def sandbox(app: ZendeskSandbox, serve_sandbox: Callable[[SandboxApp], RunningSandbox]) -> RunningSandbox:
    return serve_sandbox(app)


def _config(url: str, timeout: float = 5.0) -> ConnectionConfig:
    return ConnectionConfig(
        vendor="zendesk",
        base_url=url,
        credentials={"email": "agent@example.com", "token": "sandbox-token"},
        timeout_seconds=timeout,
    )


@pytest.fixture
def zendesk(sandbox: RunningSandbox) -> ZendeskConnector:
    connector = connector_for(_config(sandbox.url))
    assert isinstance(connector, ZendeskConnector)
    return connector


@pytest.fixture
def ticket(app: ZendeskSandbox) -> dict[str, Any]:
    requester = app.add_user(name="Ann Example", email="ann@example.com")
    return app.add_ticket(
        subject="Refund please", description="I was charged twice", requester_id=requester["id"]
    )


def test_it_is_registered_for_zendesk_with_its_emulator() -> None:
    assert emulators()["zendesk"] is ZendeskSandbox


# Reads --------------------------------------------------------------------------------------------
def test_it_reads_a_ticket(zendesk: ZendeskConnector, ticket: dict[str, Any]) -> None:
    record = zendesk.read("ticket", str(ticket["id"]))

    assert record.kind == "ticket"
    assert record.vendor_id == str(ticket["id"])
    assert record.fields["subject"] == "Refund please"
    assert record.fields["status"] == "new"
    assert record.modified_at == datetime.fromisoformat(ticket["updated_at"].replace("Z", "+00:00"))


def test_it_reads_a_contact(zendesk: ZendeskConnector, app: ZendeskSandbox) -> None:
    user = app.add_user(name="Bo Example", email="bo@example.com")

    record = zendesk.read("contact", str(user["id"]))

    assert record.kind == "contact"
    assert record.fields["email"] == "bo@example.com"


def test_it_has_no_leads(zendesk: ZendeskConnector) -> None:
    with pytest.raises(UnsupportedOperation):
        zendesk.read("lead", "1")
    with pytest.raises(UnsupportedOperation):
        zendesk.upsert("lead", id_property="email", records=[{"email": "a@example.com"}])


def test_it_pages_changed_tickets_oldest_first(
    zendesk: ZendeskConnector, app: ZendeskSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_five_tickets_an_hour_apart = []
    requester = app.add_user(name="Ann", email="ann@example.com")
    for hour in range(5):
        app.clock_offset = -3600 * (5 - hour)
        given_five_tickets_an_hour_apart.append(
            app.add_ticket(subject=f"T{hour}", description="…", requester_id=requester["id"])
        )
    app.clock_offset = 0
    monkeypatch.setattr(helpdesk, "PAGE_SIZE", 2)
    since = datetime.fromisoformat(given_five_tickets_an_hour_apart[1]["updated_at"].replace("Z", "+00:00"))

    first = zendesk.changed_since("ticket", since=since)
    second = zendesk.changed_since("ticket", since=since, cursor=first.next_cursor)

    assert [r.fields["subject"] for r in first.records] == ["T1", "T2"]
    assert first.next_cursor is not None
    assert [r.fields["subject"] for r in second.records] == ["T3", "T4"]
    assert second.next_cursor is None
    assert zendesk.changed_since("ticket", since=datetime.now(tz=UTC)).records == []


def test_a_ticket_changed_again_comes_back_after_the_others(
    zendesk: ZendeskConnector, app: ZendeskSandbox, ticket: dict[str, Any]
) -> None:
    app.clock_offset = -60
    other = app.add_ticket(subject="Other", description="…", requester_id=ticket["requester_id"])
    app.clock_offset = 0
    zendesk.add_internal_note(ticket_id=str(ticket["id"]), body="Looking", marker="n1")

    ids = [r.vendor_id for r in zendesk.changed_since("ticket", since=None).records]

    assert ids == [str(other["id"]), str(ticket["id"])]


# Writes -------------------------------------------------------------------------------------------
def test_it_posts_a_public_reply_carrying_the_marker_tag(
    zendesk: ZendeskConnector, app: ZendeskSandbox, ticket: dict[str, Any]
) -> None:
    result = zendesk.post_public_reply(ticket_id=str(ticket["id"]), body="We refunded you.", marker="act-1")

    assert result.vendor_id == str(ticket["id"]) and result.created and result.marker == "act-1"
    reply = app.comments(ticket["id"])[-1]
    assert (reply["body"], reply["public"]) == ("We refunded you.", True)
    assert zendesk.read("ticket", str(ticket["id"])).fields["tags"] == ["agentops-act-1"]
    assert app.effects[("create", "public comment")] == 1


def test_it_adds_an_internal_note(
    zendesk: ZendeskConnector, app: ZendeskSandbox, ticket: dict[str, Any]
) -> None:
    zendesk.add_internal_note(ticket_id=str(ticket["id"]), body="Customer is VIP", marker="act-2")

    note = app.comments(ticket["id"])[-1]
    assert (note["body"], note["public"]) == ("Customer is VIP", False)
    assert app.effects[("create", "internal note")] == 1
    assert app.effects[("create", "public comment")] == 0


def test_it_sets_status_and_group(
    zendesk: ZendeskConnector, app: ZendeskSandbox, ticket: dict[str, Any]
) -> None:
    billing = app.add_group(name="Billing")

    result = zendesk.set_ticket_status(
        ticket_id=str(ticket["id"]), status="pending", group_id=str(billing["id"]), marker="act-3"
    )

    fields = zendesk.read("ticket", str(ticket["id"])).fields
    assert not result.created
    assert (fields["status"], fields["group_id"]) == ("pending", billing["id"])
    assert "agentops-act-3" in fields["tags"]


def test_it_sets_status_alone(zendesk: ZendeskConnector, ticket: dict[str, Any]) -> None:
    zendesk.set_ticket_status(ticket_id=str(ticket["id"]), status="solved", marker="act-4")

    assert zendesk.read("ticket", str(ticket["id"])).fields["status"] == "solved"


def test_a_reply_posted_twice_appears_twice(
    zendesk: ZendeskConnector, app: ZendeskSandbox, ticket: dict[str, Any]
) -> None:
    for _ in range(2):
        zendesk.post_public_reply(ticket_id=str(ticket["id"]), body="Same words", marker="act-5")

    assert [c["body"] for c in app.comments(ticket["id"])].count("Same words") == 2
    assert app.effects[("create", "public comment")] == 2


# Markers ------------------------------------------------------------------------------------------
def test_it_finds_a_write_by_its_marker(zendesk: ZendeskConnector, ticket: dict[str, Any]) -> None:
    zendesk.post_public_reply(ticket_id=str(ticket["id"]), body="Hello", marker="act-6")

    found = zendesk.find_by_marker("ticket", "act-6")

    assert found is not None and found.vendor_id == str(ticket["id"])
    assert zendesk.find_by_marker("ticket", "act-unknown") is None


def test_a_write_is_not_found_until_search_has_indexed_it(
    zendesk: ZendeskConnector, app: ZendeskSandbox, ticket: dict[str, Any]
) -> None:
    app.search_lag_seconds = 120
    zendesk.post_public_reply(ticket_id=str(ticket["id"]), body="Hello", marker="act-lag")

    assert zendesk.find_by_marker("ticket", "act-lag") is None
    app.clock_offset = 121
    assert zendesk.find_by_marker("ticket", "act-lag") is not None


def test_a_marker_zendesk_would_mangle_is_hashed_into_a_stable_tag(
    zendesk: ZendeskConnector, ticket: dict[str, Any]
) -> None:
    marker = "Action 7: Reply"
    tag = marker_tag(marker)
    assert tag == marker_tag(marker) and tag.startswith("agentops-") and " " not in tag and tag == tag.lower()

    zendesk.add_internal_note(ticket_id=str(ticket["id"]), body="Hi", marker=marker)

    assert zendesk.find_by_marker("ticket", marker) is not None
    assert zendesk.find_by_marker("ticket", "action 7: reply") is None


# Errors -------------------------------------------------------------------------------------------
def _error(call: Callable[[], object]) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        call()
    return caught.value


def test_it_maps_a_missing_ticket_to_not_found(zendesk: ZendeskConnector) -> None:
    error = _error(lambda: zendesk.read("ticket", "999"))

    assert (error.status, error.code, error.retryable) == (404, "not_found", False)


def test_it_maps_a_bad_token_to_unauthorised(
    zendesk: ZendeskConnector, app: ZendeskSandbox, ticket: dict[str, Any]
) -> None:
    app.api_token = "the-real-token"

    error = _error(lambda: zendesk.read("ticket", str(ticket["id"])))

    assert (error.status, error.code, error.retryable) == (401, "unauthorised", False)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"status": "exploded"}, id="bad status"),
        pytest.param({"group_id": "42"}, id="no such group"),
    ],
)
def test_it_maps_a_rejected_update_to_invalid(
    zendesk: ZendeskConnector, ticket: dict[str, Any], changes: dict[str, str]
) -> None:
    error = _error(lambda: zendesk.set_ticket_status(ticket_id=str(ticket["id"]), marker="m", **changes))

    assert (error.status, error.code, error.retryable) == (422, "invalid", False)


def test_it_refuses_an_id_that_is_not_a_zendesk_id(zendesk: ZendeskConnector, app: ZendeskSandbox) -> None:
    error = _error(lambda: zendesk.post_public_reply(ticket_id="TCK-1", body="Hi", marker="m"))

    assert (error.code, error.retryable, error.status) == ("invalid", False, None)
    assert app.request_count == 0


def test_it_maps_an_update_of_a_closed_ticket_to_invalid(
    zendesk: ZendeskConnector, ticket: dict[str, Any]
) -> None:
    zendesk.set_ticket_status(ticket_id=str(ticket["id"]), status="closed", marker="close")

    error = _error(lambda: zendesk.post_public_reply(ticket_id=str(ticket["id"]), body="Hi", marker="m"))

    assert (error.status, error.code, error.retryable) == (422, "invalid", False)


def test_it_maps_429_to_retryable_with_the_retry_after(
    zendesk: ZendeskConnector, app: ZendeskSandbox, ticket: dict[str, Any]
) -> None:
    app.faults.configure(FaultConfig(rate_limited=1.0, retry_after=7))

    error = _error(lambda: zendesk.post_public_reply(ticket_id=str(ticket["id"]), body="Hi", marker="m"))

    assert (error.status, error.code, error.retryable, error.retry_after) == (429, "rate_limited", True, 7.0)
    assert app.comments(ticket["id"])[-1]["body"] != "Hi"


def test_the_emulated_limit_answers_with_zendesk_headers(
    zendesk: ZendeskConnector, app: ZendeskSandbox, sandbox: RunningSandbox, ticket: dict[str, Any]
) -> None:
    app.rate_limit = RateLimiter(max_requests=2, window_seconds=60)
    answers = [
        requests.get(f"{sandbox.url}/api/v2/tickets/1.json", auth=("a/token", "t"), timeout=5)
        for _ in range(2)
    ]

    error = _error(lambda: zendesk.read("ticket", str(ticket["id"])))

    assert [(a.headers["X-Rate-Limit"], a.headers["X-Rate-Limit-Remaining"]) for a in answers] == [
        ("2", "1"),
        ("2", "0"),
    ]
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.retry_after is not None and 50 <= error.retry_after <= 60


def test_a_timed_out_reply_that_took_effect_is_found_by_its_marker_and_not_posted_again(
    zendesk: ZendeskConnector, app: ZendeskSandbox, ticket: dict[str, Any], sandbox: RunningSandbox
) -> None:
    app.faults.configure(FaultConfig(timeout=1.0, timeout_seconds=1.0, after_effect=1.0, methods=("PUT",)))
    impatient = ZendeskConnector(_config(sandbox.url, timeout=0.2))

    error = _error(
        lambda: impatient.post_public_reply(ticket_id=str(ticket["id"]), body="Once", marker="act-once")
    )

    assert error.code == "timeout"
    assert zendesk.find_by_marker("ticket", "act-once") is not None  # so the executor does not repeat it
    assert app.effects[("create", "public comment")] == 1


def test_it_maps_5xx_to_retryable(
    zendesk: ZendeskConnector, app: ZendeskSandbox, ticket: dict[str, Any]
) -> None:
    app.faults.configure(FaultConfig(server_error=1.0, server_error_status=503))

    error = _error(lambda: zendesk.read("ticket", str(ticket["id"])))

    assert (error.status, error.code, error.retryable) == (503, "server_error", True)


def test_it_times_out_from_the_configured_timeout(
    app: ZendeskSandbox, sandbox: RunningSandbox, ticket: dict[str, Any]
) -> None:
    app.faults.configure(FaultConfig(timeout=1.0, timeout_seconds=1.0))
    impatient = ZendeskConnector(_config(sandbox.url, timeout=0.2))

    error = _error(lambda: impatient.read("ticket", str(ticket["id"])))

    assert (error.code, error.retryable, error.status) == ("timeout", True, None)


def test_it_maps_a_refused_connection_to_retryable(sandbox: RunningSandbox) -> None:
    url = sandbox.url
    sandbox.stop()

    error = _error(lambda: ZendeskConnector(_config(url, timeout=1)).read("ticket", "1"))

    assert (error.code, error.retryable) == ("connection", True)


# zenpy's address override ------------------------------------------------------------------------
def test_two_connections_each_reach_their_own_account_and_the_environment_is_restored(
    serve_sandbox: Callable[[SandboxApp], RunningSandbox],
) -> None:
    first_app, second_app = ZendeskSandbox(), ZendeskSandbox()
    first, second = serve_sandbox(first_app), serve_sandbox(second_app)
    for app, subject in ((first_app, "first"), (second_app, "second")):
        user = app.add_user(name="A", email="a@example.com")
        app.add_ticket(subject=subject, description="…", requester_id=user["id"])
    assert "ZENPY_FORCE_NETLOC" not in os.environ

    subjects = [
        ZendeskConnector(_config(s.url)).read("ticket", "1").fields["subject"] for s in (first, second)
    ]

    assert subjects == ["first", "second"]
    assert "ZENPY_FORCE_NETLOC" not in os.environ and "ZENPY_FORCE_SCHEME" not in os.environ


def test_it_restores_an_address_override_set_by_someone_else(
    zendesk: ZendeskConnector, ticket: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", "elsewhere.invalid")

    assert zendesk.read("ticket", str(ticket["id"])).fields["subject"] == "Refund please"
    assert os.environ["ZENPY_FORCE_NETLOC"] == "elsewhere.invalid"
    assert "ZENPY_FORCE_SCHEME" not in os.environ


def test_connections_used_from_many_threads_never_cross(
    serve_sandbox: Callable[[SandboxApp], RunningSandbox],
) -> None:
    apps = [ZendeskSandbox() for _ in range(3)]
    connectors = []
    for number, app in enumerate(apps):
        user = app.add_user(name="A", email="a@example.com")
        app.add_ticket(subject=f"account {number}", description="…", requester_id=user["id"])
        connectors.append(ZendeskConnector(_config(serve_sandbox(app).url)))

    def read_many(number: int) -> set[str]:
        return {connectors[number].read("ticket", "1").fields["subject"] for _ in range(10)}

    with ThreadPoolExecutor(max_workers=6) as pool:
        seen = list(pool.map(read_many, [0, 1, 2, 0, 1, 2]))

    assert seen == [{"account 0"}, {"account 1"}, {"account 2"}] * 2


# Webhooks -----------------------------------------------------------------------------------------
def test_it_emits_signed_webhooks_for_each_change(
    zendesk: ZendeskConnector, app: ZendeskSandbox, ticket: dict[str, Any]
) -> None:
    with Receiver() as receiver:
        app.webhooks.configure(url=receiver.url, batch_seconds=0)

        zendesk.post_public_reply(ticket_id=str(ticket["id"]), body="Hello", marker="act-8")
        assert app.webhooks.drain(timeout=5)

    types = [json.loads(body)["type"] for _, body in receiver.received]
    assert types == ["zen:event-type:ticket.comment_added", "zen:event-type:ticket.tags_changed"]
    for headers, body in receiver.received:
        stamp = headers[signatures.ZENDESK_TIMESTAMP_HEADER]
        now = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        assert signatures.zendesk_verify(
            secret=app.webhook_secret,
            body=body,
            signature=headers[signatures.ZENDESK_SIGNATURE_HEADER],
            timestamp=stamp,
            now=now,
        )


# Seeding over HTTP (what the demo does) -----------------------------------------------------------
def test_zenpy_can_create_users_groups_and_tickets_in_the_sandbox(
    zendesk: ZendeskConnector, app: ZendeskSandbox
) -> None:
    with _zenpy_target(zendesk.config.base_url):
        group = zendesk.client.groups.create(Group(name="Billing"))
        user = zendesk.client.users.create(User(name="Cy", email="cy@example.com"))
        audit = zendesk.client.tickets.create(
            Ticket(
                subject="Card declined", comment=Comment(body="Help"), requester_id=user.id, group_id=group.id
            )
        )

    ticket = zendesk.read("ticket", str(audit.ticket.id)).fields
    assert (ticket["subject"], ticket["group_id"], ticket["requester_id"]) == (
        "Card declined",
        group.id,
        user.id,
    )
    assert app.effects[("create", "ticket")] == 1
    assert [c["body"] for c in app.comments(audit.ticket.id)] == ["Help"]
