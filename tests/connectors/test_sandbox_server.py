"""The sandbox framework: routing, vendor errors, effect counts, faults, rate limits and webhooks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

from connectors.sandbox import emulators, register_emulator
from connectors.sandbox.server import (
    FaultConfig,
    FaultInjector,
    RateLimiter,
    RateLimitState,
    Request,
    Response,
    SandboxApp,
    SandboxError,
    route,
)


class NotesApp(SandboxApp):
    """A toy vendor: notes created by POST (twice means twice), read by id."""

    name = "notes-test"

    @route("POST", r"/notes")
    def create(self, request: Request) -> Response:
        data = request.json()
        if "text" not in data:
            raise SandboxError(400, "text is required", code="REQUIRED_FIELD_MISSING")
        with self.lock:
            note_id = str(self.next_id("note"))
            self.tables["note"][note_id] = {"id": note_id, "text": data["text"]}
            self.effect("create", "note")
        self.emit_webhook({"id": note_id, "text": data["text"]})
        return self.json(self.tables["note"][note_id], status=201)

    @route("GET", r"/notes/(?P<note_id>\d+)")
    def read(self, request: Request) -> Response:
        with self.lock:
            note = self.tables["note"].get(request.params["note_id"])
        if note is None:
            raise SandboxError(404, "no such note", code="NOT_FOUND")
        return self.json(note, headers={"X-Query": request.arg("q", "") or ""})

    @route("GET", r"/boom")
    def boom(self, request: Request) -> Response:
        raise RuntimeError("handler bug")

    def error_body(self, status: int, message: str, code: str) -> object:
        return [{"message": message, "errorCode": code}]

    def rate_limit_headers(self, state: RateLimitState) -> dict[str, str]:
        return {"X-Notes-Limit": str(state.limit), "X-Notes-Remaining": str(state.remaining)}

    def sign_webhook(self, body: bytes) -> dict[str, str]:
        return {"X-Notes-Signature": str(len(body))}


class InboxApp(SandboxApp):
    """Receives webhooks and keeps them in arrival order."""

    name = "inbox-test"

    @route("POST", r"/hook")
    def hook(self, request: Request) -> Response:
        with self.lock:
            self.tables["received"][str(len(self.tables["received"]))] = (
                request.json(),
                request.headers.get("X-Notes-Signature"),
            )
        return self.json(None, status=204)


@pytest.fixture
def notes(serve_sandbox):
    return serve_sandbox(NotesApp())


def test_it_routes_by_method_and_path_and_counts_each_effect(notes):
    first = requests.post(f"{notes.url}/notes", json={"text": "hi"}, timeout=2)
    second = requests.post(f"{notes.url}/notes", json={"text": "hi"}, timeout=2)

    assert (first.status_code, first.json()) == (201, {"id": "1", "text": "hi"})
    assert second.json()["id"] == "2"  # a create sent twice happens twice
    assert notes.app.effects[("create", "note")] == 2
    answer = requests.get(f"{notes.url}/notes/2?q=x", timeout=2)
    assert answer.json() == {"id": "2", "text": "hi"}
    assert answer.headers["X-Query"] == "x"


def test_it_answers_errors_in_the_vendors_shape(notes):
    missing = requests.get(f"{notes.url}/notes/9", timeout=2)
    invalid = requests.post(f"{notes.url}/notes", json={}, timeout=2)
    malformed = requests.post(f"{notes.url}/notes", data=b"{nope", timeout=2)
    unknown = requests.get(f"{notes.url}/nowhere", timeout=2)
    wrong_method = requests.delete(f"{notes.url}/notes", timeout=2)
    bug = requests.get(f"{notes.url}/boom", timeout=2)

    assert (missing.status_code, missing.json()) == (
        404,
        [{"message": "no such note", "errorCode": "NOT_FOUND"}],
    )
    assert invalid.status_code == 400
    assert invalid.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert malformed.json()[0]["errorCode"] == "MALFORMED_JSON"
    assert (unknown.status_code, wrong_method.status_code, bug.status_code) == (404, 405, 500)
    assert notes.app.effects == {}


def test_it_injects_a_server_error_before_the_effect(notes):
    notes.app.faults.configure(FaultConfig(server_error=1.0))

    answer = requests.post(f"{notes.url}/notes", json={"text": "hi"}, timeout=2)

    assert answer.status_code == 503
    assert answer.json()[0]["errorCode"] == "SERVICE_UNAVAILABLE"
    assert notes.app.effects[("create", "note")] == 0


def test_it_can_lose_the_answer_after_the_effect_took_place(notes):
    notes.app.faults.configure(FaultConfig(server_error=1.0, after_effect=1.0))

    answer = requests.post(f"{notes.url}/notes", json={"text": "hi"}, timeout=2)

    assert answer.status_code == 503
    assert notes.app.effects[("create", "note")] == 1


def test_it_drops_the_connection_without_an_answer(notes):
    notes.app.faults.configure(FaultConfig(drop=1.0, after_effect=1.0))

    with pytest.raises(requests.ConnectionError):
        requests.post(f"{notes.url}/notes", json={"text": "hi"}, timeout=2)

    assert notes.app.effects[("create", "note")] == 1
    assert notes.app.responses["dropped"] == 1


def test_it_holds_a_timed_out_request_past_the_clients_timeout(notes):
    notes.app.faults.configure(FaultConfig(timeout=1.0, timeout_seconds=0.5))

    with pytest.raises(requests.Timeout):
        requests.post(f"{notes.url}/notes", json={"text": "hi"}, timeout=0.2)

    assert notes.app.effects[("create", "note")] == 0


def test_it_slows_every_answer_down(notes):
    notes.app.faults.configure(FaultConfig(slow_seconds=0.2))

    started = time.monotonic()
    answer = requests.get(f"{notes.url}/notes/1", timeout=2)

    assert answer.status_code == 404
    assert time.monotonic() - started >= 0.2


def test_it_answers_429_bursts_with_retry_after_before_any_effect(notes):
    notes.app.faults.configure(FaultConfig(rate_limited=1.0, rate_limited_burst=3, retry_after=7, seed=1))

    answer = requests.post(f"{notes.url}/notes", json={"text": "hi"}, timeout=2)

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.headers["X-Notes-Remaining"] == "0"
    assert notes.app.effects == {}


def test_it_limits_faults_to_matching_paths_and_methods(notes):
    notes.app.faults.configure(FaultConfig(server_error=1.0, methods=("POST",), path_pattern=r"^/notes$"))

    assert requests.get(f"{notes.url}/notes/1", timeout=2).status_code == 404
    assert requests.post(f"{notes.url}/notes", json={"text": "x"}, timeout=2).status_code == 503


def test_it_draws_the_same_faults_from_the_same_seed():
    config = FaultConfig(server_error=0.2, timeout=0.1, drop=0.1, rate_limited=0.1, after_effect=0.5, seed=42)
    first, second = FaultInjector(config), FaultInjector(config)

    draws = [first.decide("POST", "/x") for _ in range(200)]

    assert draws == [second.decide("POST", "/x") for _ in range(200)]
    kinds = {d.kind for d in draws}
    assert kinds == {"", "server_error", "timeout", "drop", "rate_limited"}
    assert {d.after_effect for d in draws if d.kind == "timeout"} == {True, False}


def test_it_draws_a_burst_of_429s_in_a_row():
    injector = FaultInjector(FaultConfig(rate_limited=1.0, rate_limited_burst=3))
    assert [injector.decide("GET", "/").kind for _ in range(3)] == ["rate_limited"] * 3
    injector.configure(FaultConfig(rate_limited=0.0))
    assert injector.decide("GET", "/").kind == ""


def test_the_rate_limiter_allows_n_per_sliding_window_and_says_when_to_retry():
    now = [100.0]
    limiter = RateLimiter(3, 10.0, clock=lambda: now[0])

    states = [limiter.hit() for _ in range(3)]
    now[0] = 104.0
    refused = limiter.hit()
    now[0] = 110.5  # the first three hits have left the window
    again = limiter.hit()

    assert [s.remaining for s in states] == [2, 1, 0]
    assert all(s.allowed for s in states)
    assert (refused.allowed, refused.retry_after) == (False, pytest.approx(6.0))
    assert (again.allowed, again.remaining) == (True, 2)


def test_it_enforces_the_configured_rate_limit_with_the_vendors_headers(notes):
    notes.app.rate_limit = RateLimiter(2, 60.0)

    answers = [requests.get(f"{notes.url}/notes/1", timeout=2) for _ in range(3)]

    assert [a.status_code for a in answers] == [404, 404, 429]
    assert [a.headers["X-Notes-Remaining"] for a in answers] == ["1", "0", "0"]
    assert int(answers[2].headers["Retry-After"]) >= 59


def test_the_control_endpoints_set_faults_and_limits_and_report_effects(notes):
    requests.post(f"{notes.url}/notes", json={"text": "x"}, timeout=2)

    set_faults = requests.post(
        f"{notes.url}/__sandbox/faults", json={"server_error": 1.0, "seed": 3}, timeout=2
    )
    bad = requests.post(f"{notes.url}/__sandbox/faults", json={"nonsense": 1}, timeout=2)
    limit = requests.post(
        f"{notes.url}/__sandbox/rate-limit", json={"max_requests": 190, "window_seconds": 10}, timeout=2
    )
    effects = requests.get(f"{notes.url}/__sandbox/effects", timeout=2).json()

    assert set_faults.json()["server_error"] == 1.0
    assert notes.app.faults.config.seed == 3
    assert bad.status_code == 400
    assert limit.json() == {"max_requests": 190, "window_seconds": 10.0}
    assert effects == {"effects": {"create note": 1}, "responses": {"201": 1}}
    assert requests.post(f"{notes.url}/__sandbox/reset", timeout=2).status_code == 204
    assert notes.app.effects == {}
    assert notes.app.faults.config == FaultConfig()


def test_it_delivers_signed_webhooks_duplicated_and_shuffled(serve_sandbox, notes):
    inbox = serve_sandbox(InboxApp())
    answer = requests.post(
        f"{notes.url}/__sandbox/webhooks",
        json={"url": f"{inbox.url}/hook", "duplicate_rate": 1.0, "shuffle": True, "seed": 5},
        timeout=2,
    )
    assert answer.json() == {"url": f"{inbox.url}/hook"}

    for n in range(10):
        requests.post(f"{notes.url}/notes", json={"text": f"n{n}"}, timeout=2)
    assert notes.app.webhooks.drain(timeout=5)

    received = [inbox.app.tables["received"][str(i)] for i in range(len(inbox.app.tables["received"]))]
    ids = [event["id"] for event, _ in received]
    assert sorted(ids) == sorted([str(n) for n in range(1, 11)] * 2)
    assert ids != sorted(ids, key=int)  # shuffled
    assert all(signature is not None for _, signature in received)
    assert sum(d.duplicate for d in notes.app.webhooks.deliveries) == 10
    assert {d.status for d in notes.app.webhooks.deliveries} == {204}


def test_it_records_a_webhook_the_receiver_did_not_take(notes):
    notes.app.webhooks.configure(url="http://127.0.0.1:9/unreachable")
    notes.app.webhooks.timeout_seconds = 0.5

    requests.post(f"{notes.url}/notes", json={"text": "x"}, timeout=2)

    assert notes.app.webhooks.drain(timeout=5)
    assert [d.status for d in notes.app.webhooks.deliveries] == [None]


def test_the_emulator_registry_refuses_two_emulators_of_one_name():
    register_emulator(NotesApp)

    class OtherNotes(SandboxApp):
        name = "notes-test"

    with pytest.raises(ValueError, match="already registered"):
        register_emulator(OtherNotes)
    assert emulators()["notes-test"] is NotesApp


def test_every_vendor_emulator_is_registered():
    assert {"salesforce", "hubspot", "zendesk", "intercom"} <= set(emulators())


def test_run_sandbox_serves_the_emulators_and_prints_their_urls():
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "manage.py", "run_sandbox", "--only", "salesforce", "--only", "hubspot"]
    command += ["--port", "salesforce=0", "--port", "hubspot=0"]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().strip().split(": ", 1) for _ in range(2))
        answer = requests.get(f"{lines['hubspot']}/crm/v3/objects/contacts/1", timeout=5)
        assert set(lines) == {"salesforce", "hubspot"}
        assert answer.status_code == 401
        assert answer.json()["category"] == "INVALID_AUTHENTICATION"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_run_sandbox_refuses_an_unknown_emulator():
    with pytest.raises(CommandError, match="unknown emulators: myspace"):
        call_command("run_sandbox", only=["myspace"])
