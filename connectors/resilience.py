"""The arithmetic of calling a vendor safely: backoff, circuit breaking, rate limiting. Pure.

No ORM, no Redis, no clock of its own: every function takes ``now`` (seconds, any monotonic-enough
origin shared by the callers, e.g. ``time.time()``) and returns new immutable state, so each rule is
tested exhaustively and fast; ``connectors.throttle`` persists the state atomically where every
worker process sees it (Redis or the database).

- **Retries**: ``retry_delay`` is exponential backoff with full jitter (a uniform draw between 0
  and ``min(cap, base * 2**attempt)``), never shorter than the vendor's ``retry_after``;
  ``should_retry`` allows retryable ``ConnectorError``s only, up to a number of attempts.
- **Circuit breaker** per connection: ``failure_threshold`` consecutive retryable failures open it;
  after ``open_seconds`` one probe is let through (half-open); its success closes the breaker, its
  failure opens it again. Non-retryable errors (a 400, a 404) say nothing about the vendor's health
  and leave it alone.
- **Rate limit** per connection: a sliding-window log mirroring the vendor's published limit (at
  most ``max_requests`` in any ``window_seconds``), each slot moved to when its answer came (the
  vendor counted the request on arrival, no later), tightened by what the answers' headers say
  (``Retry-After``, remaining = 0) into a pause all workers respect.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from connectors.base import ConnectorError
from connectors.crm import retry_after_from

# Retries -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry: ``attempt`` counts from 0 (the first retry)."""

    max_attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 60.0


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in ``[0, min(cap, base * 2**attempt)]`` (AWS's recommended variant)."""
    if attempt < 0:
        raise ValueError("attempt counts from 0")
    ceiling = min(cap, base * 2 ** min(attempt, 64))
    return (rng or random).uniform(0.0, ceiling)


def should_retry(error: BaseException, attempts_made: int, policy: RetryPolicy) -> bool:
    """Whether call number ``attempts_made + 1`` may be tried after ``error``."""
    return isinstance(error, ConnectorError) and error.retryable and attempts_made < policy.max_attempts


def retry_delay(
    error: ConnectorError, attempt: int, policy: RetryPolicy, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry ``attempt``: jittered backoff, at least the vendor's ``retry_after``."""
    delay = backoff_delay(attempt, base=policy.base_seconds, cap=policy.cap_seconds, rng=rng)
    return max(delay, error.retry_after or 0.0)


# Circuit breaker -----------------------------------------------------------------------------------


class BreakerPhase(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    open_seconds: float = 30.0
    #: How long a half-open probe may stay unanswered before another is let through.
    probe_timeout_seconds: float = 60.0


@dataclass(frozen=True)
class BreakerState:
    """A breaker's state; ``since`` is when it opened or when the probe was let through."""

    phase: BreakerPhase = BreakerPhase.CLOSED
    failures: int = 0
    since: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"phase": self.phase.value, "failures": self.failures, "since": self.since}

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> BreakerState:
        if not data:
            return cls()
        return cls(BreakerPhase(str(data["phase"])), int(str(data["failures"])), float(str(data["since"])))


@dataclass(frozen=True)
class BreakerDecision:
    allowed: bool
    state: BreakerState
    #: When refused: seconds until a probe may be tried.
    retry_in: float = 0.0


def breaker_before_call(state: BreakerState, now: float, policy: BreakerPolicy) -> BreakerDecision:
    """May a call go out now? Open refuses until ``open_seconds`` passed, then lets one probe out."""
    if state.phase is BreakerPhase.CLOSED:
        return BreakerDecision(True, state)
    if state.phase is BreakerPhase.OPEN:
        ready_at = state.since + policy.open_seconds
        if now < ready_at:
            return BreakerDecision(False, state, ready_at - now)
        return BreakerDecision(True, BreakerState(BreakerPhase.HALF_OPEN, state.failures, now))
    # Half-open: the probe is out; others wait unless it has gone unanswered too long.
    probe_deadline = state.since + policy.probe_timeout_seconds
    if now < probe_deadline:
        return BreakerDecision(False, state, probe_deadline - now)
    return BreakerDecision(True, replace(state, since=now))


def breaker_after_call(
    state: BreakerState, *, ok: bool, retryable_failure: bool, now: float, policy: BreakerPolicy
) -> BreakerState:
    """The state after a call's outcome: ``ok``, a retryable failure, or another (neutral) error."""
    if ok:
        return BreakerState()
    if not retryable_failure:
        # The vendor answered sensibly (a 400, 404 …): it is healthy, whatever the phase.
        return BreakerState() if state.phase is BreakerPhase.HALF_OPEN else state
    if state.phase is BreakerPhase.HALF_OPEN:
        return BreakerState(BreakerPhase.OPEN, state.failures + 1, now)
    failures = state.failures + 1
    if state.phase is BreakerPhase.CLOSED and failures >= policy.failure_threshold:
        return BreakerState(BreakerPhase.OPEN, failures, now)
    return replace(state, failures=failures)


# Rate limiting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimitPolicy:
    """The vendor's published limit, the share of it we allow ourselves (headroom for others), and a
    margin added to the window: the vendor counts a request when it arrives, later than we sent it,
    and by a varying delay, so our window must be a little longer than theirs."""

    max_requests: int
    window_seconds: float
    utilisation: float = 1.0
    margin_seconds: float = 0.0

    @property
    def allowed(self) -> int:
        return max(1, int(self.max_requests * self.utilisation))


@dataclass(frozen=True)
class WindowState:
    """Our own recent request times (oldest first) and a pause the vendor asked for."""

    sent: tuple[float, ...] = ()
    paused_until: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"sent": list(self.sent), "paused_until": self.paused_until}

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> WindowState:
        if not data:
            return cls()
        sent = data.get("sent") or []
        assert isinstance(sent, list)
        return cls(tuple(float(t) for t in sent), float(str(data.get("paused_until", 0.0))))


@dataclass(frozen=True)
class WindowDecision:
    """``wait`` is 0 when the request may go now (and ``state`` counts it), else seconds to wait."""

    wait: float
    state: WindowState


def window_acquire(state: WindowState, now: float, policy: RateLimitPolicy) -> WindowDecision:
    """Take a slot in the sliding window now, or say how long until one frees up."""
    if now < state.paused_until:
        return WindowDecision(state.paused_until - now, state)
    window = policy.window_seconds + policy.margin_seconds
    recent = tuple(t for t in state.sent if t > now - window)
    if len(recent) >= policy.allowed:
        # The oldest request in the window must leave it before another may go.
        wait = recent[len(recent) - policy.allowed] + window - now
        return WindowDecision(max(wait, 1e-6), WindowState(recent, state.paused_until))
    return WindowDecision(0.0, WindowState((*recent, now), state.paused_until))


def window_settle(state: WindowState, sent_at: float, done_at: float) -> WindowState:
    """Move the slot taken at ``sent_at`` to ``done_at``, when the call's answer came: the vendor
    counted the request on arrival, which was no later than that."""
    sent = list(state.sent)
    if sent_at not in sent:
        return state  # the slot already left the window
    sent.remove(sent_at)
    return replace(state, sent=tuple(sorted([*sent, max(done_at, sent_at)])))


@dataclass(frozen=True)
class ObservedLimit:
    """What an answer's headers said about the rate limit (None: not said)."""

    limit: int | None = None
    remaining: int | None = None
    window_seconds: float | None = None
    retry_after: float | None = None


_SFORCE_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def observe_headers(headers: Mapping[str, str], *, now: float | None = None) -> ObservedLimit:
    """Read ``Retry-After`` and the vendors' limit headers: HubSpot's ``X-HubSpot-RateLimit-*``,
    the common ``X-RateLimit-*`` (Zendesk, Intercom) and Salesforce's ``Sforce-Limit-Info``."""
    lowered = {k.lower(): v for k, v in headers.items()}

    def number(*names: str) -> int | None:
        for name in names:
            value = lowered.get(name, "").strip()
            if value.isdigit():
                return int(value)
        return None

    limit = number("x-hubspot-ratelimit-max", "x-ratelimit-limit")
    remaining = number("x-hubspot-ratelimit-remaining", "x-ratelimit-remaining")
    interval_ms = number("x-hubspot-ratelimit-interval-milliseconds")
    usage = _SFORCE_USAGE.search(lowered.get("sforce-limit-info", ""))
    if usage and limit is None:
        used, limit = int(usage[1]), int(usage[2])
        remaining = max(limit - used, 0)
    return ObservedLimit(
        limit=limit,
        remaining=remaining,
        window_seconds=interval_ms / 1000 if interval_ms is not None else None,
        retry_after=retry_after_from(headers, now=now),
    )


def window_observe(
    state: WindowState, observed: ObservedLimit, now: float, policy: RateLimitPolicy
) -> WindowState:
    """Follow the vendor: pause for ``retry_after``; when it says nothing remains, pause until our
    oldest request in the window leaves it (or one window, if we have none on record)."""
    pause_until = state.paused_until
    if observed.retry_after is not None:
        pause_until = max(pause_until, now + observed.retry_after)
    if observed.remaining == 0:
        window = observed.window_seconds or policy.window_seconds
        recent = [t for t in state.sent if t > now - window]
        pause_until = max(pause_until, (recent[0] + window) if recent else now + window)
    return replace(state, paused_until=pause_until)
