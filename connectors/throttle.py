"""Per-connection circuit breaker and rate limiter, with state every worker process shares.

``Throttle(store, key, …)`` wraps the pure rules of ``connectors.resilience``: call ``acquire()``
before a vendor call (it raises ``ConnectorError`` with code ``circuit_open`` or
``rate_limited`` when the call must not go now, waiting short rate-limit gaps out itself) and
``record(error, headers)`` after it. The state lives in a ``ThrottleStore`` that updates it
atomically: ``RedisStore`` (optimistic WATCH/MULTI transactions) when ``REDIS_URL`` is set,
``DatabaseStore`` (a row lock on ``ThrottleState``) otherwise, ``MemoryStore`` for one process.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.db import transaction

from connectors.base import ConnectorError
from connectors.resilience import (
    BreakerPolicy,
    BreakerState,
    ObservedLimit,
    RateLimitPolicy,
    WindowState,
    breaker_after_call,
    breaker_before_call,
    observe_headers,
    window_acquire,
    window_observe,
    window_settle,
)

T = TypeVar("T")
Update = Callable[[dict[str, Any] | None], tuple[dict[str, Any], T]]


class ThrottleStore(Protocol):
    def update(self, key: str, fn: Update[T]) -> T:
        """Apply ``fn`` to the stored JSON of ``key`` (None if absent) atomically; return its result."""
        ...


class MemoryStore:
    """State in this process only (tests, a single worker)."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def update(self, key: str, fn: Update[T]) -> T:
        with self._lock:
            new, result = fn(self._data.get(key))
            self._data[key] = new
            return result


class RedisStore:
    """State in Redis, updated with WATCH/MULTI (retried when another process wrote in between)."""

    def __init__(self, client: Any, *, prefix: str = "agentops:throttle:", ttl_seconds: int = 86_400) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds

    def update(self, key: str, fn: Update[T]) -> T:
        from redis.exceptions import WatchError

        name = self._prefix + key
        while True:
            with self._client.pipeline() as pipe:
                try:
                    pipe.watch(name)
                    raw = pipe.get(name)
                    new, result = fn(json.loads(raw) if raw else None)
                    pipe.multi()
                    pipe.set(name, json.dumps(new), ex=self._ttl)
                    pipe.execute()
                    return result
                except WatchError:
                    continue


class DatabaseStore:
    """State in the ``ThrottleState`` table, one row per key, updated under its row lock."""

    def update(self, key: str, fn: Update[T]) -> T:
        from connectors.models import ThrottleState

        with transaction.atomic():
            # get_or_create survives another process creating the row first; then lock it.
            ThrottleState.objects.get_or_create(key=key, defaults={"data": {}})
            row = ThrottleState.objects.select_for_update().get(key=key)
            new, result = fn(row.data or None)
            row.data = new
            row.save(update_fields=["data", "updated_at"])
            return result


def default_store() -> ThrottleStore:
    """Redis when ``REDIS_URL`` is set (shared by every host), else the database."""
    if settings.REDIS_URL:
        import redis

        return RedisStore(redis.Redis.from_url(settings.REDIS_URL))
    return DatabaseStore()


class Throttle:
    """One connection's breaker and rate limit (see the module docstring)."""

    def __init__(
        self,
        store: ThrottleStore,
        key: str,
        *,
        breaker: BreakerPolicy | None = None,
        rate: RateLimitPolicy | None = None,
        max_wait_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.key = key
        self.breaker = breaker or BreakerPolicy()
        self.rate = rate
        self.max_wait_seconds = max_wait_seconds
        self._clock = clock
        self._sleep = sleep

    @property
    def _breaker_key(self) -> str:
        return f"{self.key}:breaker"

    @property
    def _window_key(self) -> str:
        return f"{self.key}:window"

    def breaker_state(self) -> BreakerState:
        return self.store.update(self._breaker_key, lambda data: (data or {}, BreakerState.from_json(data)))

    def acquire(self) -> float | None:
        """Return when a call may go out; raise ``ConnectorError`` (retryable) when it must wait longer.

        Returns the time the call took its rate-limit slot (None without a rate limit): pass it to
        ``record`` as ``sent_at``, so the slot moves to when the answer came.
        """
        now = self._clock()

        def check_breaker(data: dict[str, Any] | None) -> tuple[dict[str, Any], tuple[bool, float]]:
            decision = breaker_before_call(BreakerState.from_json(data), now, self.breaker)
            return decision.state.to_json(), (decision.allowed, decision.retry_in)

        allowed, retry_in = self.store.update(self._breaker_key, check_breaker)
        if not allowed:
            raise ConnectorError(
                f"circuit open for {self.key}", retryable=True, code="circuit_open", retry_after=retry_in
            )
        if self.rate is None:
            return None
        rate = self.rate
        while True:
            moment = self._clock()

            def take_slot(
                data: dict[str, Any] | None, moment: float = moment
            ) -> tuple[dict[str, Any], float]:
                decision = window_acquire(WindowState.from_json(data), moment, rate)
                return decision.state.to_json(), decision.wait

            wait = self.store.update(self._window_key, take_slot)
            if wait <= 0:
                return moment
            if wait > self.max_wait_seconds:
                raise ConnectorError(
                    f"rate limit of {self.key} reached", retryable=True, code="rate_limited", retry_after=wait
                )
            self._sleep(wait)

    def record(
        self,
        error: BaseException | None,
        headers: Mapping[str, str] | None = None,
        *,
        sent_at: float | None = None,
    ) -> None:
        """Feed a call's outcome back: the breaker counts retryable failures; the window follows the
        vendor's rate-limit headers and ``retry_after``, and the call's slot (``sent_at``, from
        ``acquire``) moves to now: the vendor counted the request when it arrived, at the latest now,
        so our window never runs ahead of theirs however long the call took to get there."""
        now = self._clock()
        # A 429 says the vendor is healthy and busy: the rate limit handles it, not the breaker.
        retryable = isinstance(error, ConnectorError) and error.retryable and error.code != "rate_limited"

        def after(data: dict[str, Any] | None) -> tuple[dict[str, Any], None]:
            state = breaker_after_call(
                BreakerState.from_json(data),
                ok=error is None,
                retryable_failure=retryable,
                now=now,
                policy=self.breaker,
            )
            return state.to_json(), None

        self.store.update(self._breaker_key, after)
        if self.rate is None:
            return
        observed = observe_headers(headers or {}, now=now)
        if (
            isinstance(error, ConnectorError)
            and error.code == "rate_limited"
            and error.retry_after is not None
        ):
            observed = ObservedLimit(
                observed.limit, observed.remaining, observed.window_seconds, error.retry_after
            )
        if observed.retry_after is None and observed.remaining != 0 and sent_at is None:
            return  # nothing to follow: spare the store a write
        rate = self.rate

        def follow(data: dict[str, Any] | None) -> tuple[dict[str, Any], None]:
            state = WindowState.from_json(data)
            if sent_at is not None:
                state = window_settle(state, sent_at, now)
            return window_observe(state, observed, now, rate).to_json(), None

        self.store.update(self._window_key, follow)


def connection_throttle(
    connection: Any,
    *,
    breaker: BreakerPolicy | None = None,
    store: ThrottleStore | None = None,
    max_wait_seconds: float = 5.0,
) -> Throttle:
    """A connection's breaker and rate limit (``options["rate_limit"]``: max_requests,
    window_seconds, utilisation), kept in the store every worker shares."""
    limit = (connection.options or {}).get("rate_limit") or None
    rate = (
        RateLimitPolicy(
            max_requests=int(limit["max_requests"]),
            window_seconds=float(limit["window_seconds"]),
            utilisation=float(limit.get("utilisation", 0.9)),
        )
        if limit
        else None
    )
    return Throttle(
        store or default_store(),
        f"connection:{connection.pk}",
        breaker=breaker,
        rate=rate,
        max_wait_seconds=max_wait_seconds,
    )


def connection_breaker_phase(connection: Any) -> str:
    """``closed``, ``half_open`` or ``open``: the connection's breaker as every worker sees it."""
    return connection_throttle(connection).breaker_state().phase.value
