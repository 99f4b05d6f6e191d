"""Per-connection breaker and rate limit, with state shared through memory, the database or Redis."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis
from django.urls import reverse

from connectors.base import ConnectionConfig, ConnectorError
from connectors.models import ThrottleState
from connectors.registry import connector_for
from connectors.resilience import BreakerPhase, BreakerPolicy, RateLimitPolicy
from connectors.sandbox.hubspot import HubSpotSandbox
from connectors.sandbox.server import RateLimiter as SandboxRateLimiter
from connectors.throttle import DatabaseStore, MemoryStore, RedisStore, Throttle

# Fixed Redis databases, named PostgreSQL databases or child processes: one xdist worker at a time.
pytestmark = pytest.mark.xdist_group("redis-db-0")
REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def redis_store():
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"test:throttle:{uuid.uuid4().hex}:"
    yield RedisStore(client, prefix=prefix)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(params=["memory", "database", "redis"])
def store(request):
    if request.param == "memory":
        return MemoryStore()
    if request.param == "database":
        request.getfixturevalue("db")
        return DatabaseStore()
    return request.getfixturevalue("redis_store")


def throttle(store, clock: Clock, **kwargs) -> Throttle:
    return Throttle(
        store,
        "hubspot:1",
        breaker=kwargs.pop("breaker", BreakerPolicy(failure_threshold=2, open_seconds=30.0)),
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )


SERVER_ERROR = ConnectorError("503", retryable=True, status=503, code="server_error")


def test_failures_seen_by_one_worker_open_the_breaker_for_all(store):
    clock = Clock()
    first, second = throttle(store, clock), throttle(store, clock)  # two worker processes

    first.acquire()
    first.record(SERVER_ERROR)
    second.acquire()
    second.record(SERVER_ERROR)

    with pytest.raises(ConnectorError) as caught:
        first.acquire()
    assert (caught.value.code, caught.value.retryable, caught.value.retry_after) == (
        "circuit_open",
        True,
        30.0,
    )
    assert second.breaker_state().phase is BreakerPhase.OPEN


def test_after_the_cool_down_one_probe_goes_and_its_success_closes_the_breaker(store):
    clock = Clock()
    first, second = throttle(store, clock), throttle(store, clock)
    for _ in range(2):
        first.acquire()
        first.record(SERVER_ERROR)
    clock.now += 30.0

    first.acquire()  # the probe
    with pytest.raises(ConnectorError, match="circuit open"):
        second.acquire()
    first.record(None)

    second.acquire()
    assert second.breaker_state().phase is BreakerPhase.CLOSED


def test_a_429_or_a_400_does_not_open_the_breaker(store):
    clock = Clock()
    limited = throttle(store, clock)
    for error in [
        ConnectorError("429", retryable=True, status=429, code="rate_limited"),
        ConnectorError("400", retryable=False, status=400, code="invalid"),
    ] * 3:
        limited.acquire()
        limited.record(error)
    assert limited.breaker_state().phase is BreakerPhase.CLOSED


def test_the_rate_limit_waits_short_gaps_out_and_refuses_long_ones(store):
    clock = Clock()
    rate = RateLimitPolicy(max_requests=2, window_seconds=1.0)
    patient = throttle(store, clock, rate=rate, max_wait_seconds=5.0)

    for _ in range(6):
        patient.acquire()

    assert clock.slept == [pytest.approx(1.0), pytest.approx(1.0)]  # two at 0 s, two at 1 s, two at 2 s
    impatient = throttle(store, clock, rate=rate, max_wait_seconds=0.1)
    with pytest.raises(ConnectorError) as caught:
        impatient.acquire()
    assert (caught.value.code, caught.value.retryable) == ("rate_limited", True)
    assert 0 < caught.value.retry_after <= 1.0


def test_every_worker_follows_the_vendors_retry_after(store):
    clock = Clock()
    rate = RateLimitPolicy(max_requests=100, window_seconds=10.0)
    first = throttle(store, clock, rate=rate, max_wait_seconds=1.0)
    second = throttle(store, clock, rate=rate, max_wait_seconds=1.0)

    first.acquire()
    first.record(ConnectorError("429", retryable=True, status=429, code="rate_limited", retry_after=4.0))

    with pytest.raises(ConnectorError) as caught:
        second.acquire()
    assert caught.value.retry_after == pytest.approx(4.0)
    clock.now += 4.0
    second.acquire()


def test_it_pauses_when_the_headers_say_nothing_remains(store):
    clock = Clock()
    rate = RateLimitPolicy(max_requests=100, window_seconds=10.0)
    limited = throttle(store, clock, rate=rate, max_wait_seconds=20.0)

    limited.acquire()
    limited.record(
        None,
        {"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
    )
    limited.acquire()

    assert clock.slept == [pytest.approx(10.0)]


def test_a_slot_moves_to_when_the_answer_came_so_a_slow_call_delays_the_next_window(store):
    clock = Clock()
    rate = RateLimitPolicy(max_requests=1, window_seconds=1.0)
    limited = throttle(store, clock, rate=rate, max_wait_seconds=5.0)

    sent_at = limited.acquire()
    clock.now += 0.4  # the call takes 0.4 s: the vendor counted it somewhere in between
    limited.record(None, sent_at=sent_at)
    limited.acquire()

    assert sent_at == 1_000.0
    assert clock.slept == [pytest.approx(1.0)]  # until 1 s after the answer, not after the send


def test_the_database_keeps_one_row_per_connection_and_purpose(db):
    clock = Clock()
    limited = throttle(DatabaseStore(), clock, rate=RateLimitPolicy(max_requests=5, window_seconds=1.0))

    for _ in range(3):
        limited.acquire()
        limited.record(None)

    assert list(ThrottleState.objects.values_list("key", flat=True)) == [
        "hubspot:1:breaker",
        "hubspot:1:window",
    ]
    assert len(ThrottleState.objects.get(key="hubspot:1:window").data["sent"]) == 3


def test_concurrent_workers_never_take_more_slots_than_the_window_holds(redis_store):
    rate = RateLimitPolicy(max_requests=50, window_seconds=60.0)
    granted: list[int] = []
    refused: list[int] = []

    def worker() -> None:
        limited = Throttle(redis_store, "hubspot:race", rate=rate, max_wait_seconds=0.0)
        for _ in range(20):
            try:
                limited.acquire()
            except ConnectorError:
                refused.append(1)
            else:
                granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (len(granted), len(refused)) == (50, 70)


def test_calls_paced_by_the_throttle_never_meet_the_vendors_429(serve_sandbox):
    sandbox = serve_sandbox(HubSpotSandbox())
    sandbox.app.rate_limit = SandboxRateLimiter(5, 0.5)
    config = ConnectionConfig(
        vendor="hubspot", base_url=sandbox.url, credentials={"access_token": "sandbox-token"}
    )
    hubspot = connector_for(config)
    paced = Throttle(MemoryStore(), "hubspot:paced", rate=RateLimitPolicy(max_requests=5, window_seconds=0.5))

    for n in range(12):
        sent_at = paced.acquire()
        hubspot.upsert(
            "contact", id_property="agentops_external_id", records=[{"agentops_external_id": f"c{n}"}]
        )
        paced.record(None, sent_at=sent_at)

    assert sandbox.app.responses == {"200": 12}


def test_the_admin_shows_throttle_state_read_only(admin_client):
    Throttle(DatabaseStore(), "hubspot:admin").acquire()

    changelist = admin_client.get(reverse("admin:connectors_throttlestate_changelist"))
    add = admin_client.get(reverse("admin:connectors_throttlestate_add"))

    assert changelist.status_code == 200
    assert "hubspot:admin:breaker" in changelist.content.decode()
    assert add.status_code == 403
