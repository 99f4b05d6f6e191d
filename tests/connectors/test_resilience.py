"""The pure rules of calling a vendor safely: backoff with full jitter, the breaker, the rate window."""

from __future__ import annotations

import random
import statistics

import pytest

from connectors.base import ConnectorError
from connectors.resilience import (
    BreakerPhase,
    BreakerPolicy,
    BreakerState,
    ObservedLimit,
    RateLimitPolicy,
    RetryPolicy,
    WindowState,
    backoff_delay,
    breaker_after_call,
    breaker_before_call,
    observe_headers,
    retry_delay,
    should_retry,
    window_acquire,
    window_observe,
    window_settle,
)
from connectors.sandbox.server import RateLimiter

# Backoff -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(12))
def test_backoff_stays_between_zero_and_the_capped_exponential(attempt):
    rng = random.Random(attempt)
    ceiling = min(30.0, 0.5 * 2**attempt)

    delays = [backoff_delay(attempt, base=0.5, cap=30.0, rng=rng) for _ in range(500)]

    assert all(0.0 <= d <= ceiling for d in delays)
    # Full jitter: spread over the whole range, not bunched at the top (mean of a uniform draw).
    assert statistics.mean(delays) == pytest.approx(ceiling / 2, rel=0.1)
    assert min(delays) < ceiling * 0.05 and max(delays) > ceiling * 0.95


def test_backoff_does_not_overflow_on_a_huge_attempt_and_refuses_a_negative_one():
    assert 0 <= backoff_delay(10_000, base=1.0, cap=60.0, rng=random.Random(1)) <= 60.0
    with pytest.raises(ValueError, match="from 0"):
        backoff_delay(-1, base=1.0, cap=60.0)


def test_the_same_seed_gives_the_same_delays():
    first = [backoff_delay(a, base=1, cap=60, rng=random.Random(7)) for a in range(5)]
    second = [backoff_delay(a, base=1, cap=60, rng=random.Random(7)) for a in range(5)]
    assert first == second


def test_a_retry_waits_at_least_what_the_vendor_asked():
    error = ConnectorError("429", retryable=True, code="rate_limited", retry_after=12.0)
    policy = RetryPolicy(base_seconds=0.1, cap_seconds=1.0)

    assert all(retry_delay(error, a, policy, random.Random(a)) == 12.0 for a in range(5))
    no_hint = ConnectorError("503", retryable=True, code="server_error")
    assert 0 <= retry_delay(no_hint, 3, policy, random.Random(1)) <= 0.8


@pytest.mark.parametrize(
    ("error", "attempts_made", "expected"),
    [
        (ConnectorError("503", retryable=True), 0, True),
        (ConnectorError("503", retryable=True), 5, True),
        (ConnectorError("503", retryable=True), 6, False),  # policy allows 6
        (ConnectorError("400", retryable=False), 0, False),
        (ValueError("bug"), 0, False),
    ],
)
def test_only_retryable_connector_errors_are_retried_and_only_so_often(error, attempts_made, expected):
    assert should_retry(error, attempts_made, RetryPolicy(max_attempts=6)) is expected


# Circuit breaker -----------------------------------------------------------------------------------
POLICY = BreakerPolicy(failure_threshold=3, open_seconds=30.0, probe_timeout_seconds=60.0)


def fail(state: BreakerState, now: float, retryable: bool = True) -> BreakerState:
    return breaker_after_call(state, ok=False, retryable_failure=retryable, now=now, policy=POLICY)


def succeed(state: BreakerState, now: float) -> BreakerState:
    return breaker_after_call(state, ok=True, retryable_failure=False, now=now, policy=POLICY)


def test_a_closed_breaker_lets_calls_through_and_opens_at_the_threshold():
    state = BreakerState()
    for n in range(2):
        state = fail(state, now=n)
        assert (state.phase, state.failures) == (BreakerPhase.CLOSED, n + 1)
        assert breaker_before_call(state, n, POLICY).allowed

    state = fail(state, now=100.0)

    assert (state.phase, state.failures, state.since) == (BreakerPhase.OPEN, 3, 100.0)


def test_a_success_resets_the_count_of_failures():
    state = succeed(fail(fail(BreakerState(), 0), 1), 2)
    assert state == BreakerState()
    assert fail(fail(state, 3), 4).phase is BreakerPhase.CLOSED


def test_errors_that_are_not_retryable_do_not_count_against_the_vendor():
    state = BreakerState()
    for n in range(10):
        state = fail(state, now=n, retryable=False)
    assert state == BreakerState()


def test_an_open_breaker_refuses_until_the_cool_down_then_lets_one_probe_out():
    opened = BreakerState(BreakerPhase.OPEN, 3, since=100.0)

    refused = breaker_before_call(opened, 110.0, POLICY)
    probe = breaker_before_call(opened, 130.0, POLICY)
    second = breaker_before_call(probe.state, 131.0, POLICY)

    assert (refused.allowed, refused.retry_in, refused.state) == (False, 20.0, opened)
    assert probe.allowed and probe.state == BreakerState(BreakerPhase.HALF_OPEN, 3, since=130.0)
    assert (second.allowed, second.retry_in) == (False, 59.0)


@pytest.mark.parametrize(
    ("ok", "retryable", "phase"),
    [
        (True, False, BreakerPhase.CLOSED),
        (False, True, BreakerPhase.OPEN),
        (False, False, BreakerPhase.CLOSED),
    ],
)
def test_the_probes_outcome_closes_or_reopens_the_breaker(ok, retryable, phase):
    half_open = BreakerState(BreakerPhase.HALF_OPEN, 3, since=130.0)

    after = breaker_after_call(half_open, ok=ok, retryable_failure=retryable, now=135.0, policy=POLICY)

    assert after.phase is phase
    if phase is BreakerPhase.OPEN:
        assert (after.since, after.failures) == (135.0, 4)
    else:
        assert after == BreakerState()


def test_a_probe_that_never_answers_lets_another_out_after_its_timeout():
    half_open = BreakerState(BreakerPhase.HALF_OPEN, 3, since=130.0)

    decision = breaker_before_call(half_open, 190.0, POLICY)

    assert decision.allowed and decision.state.since == 190.0


def test_a_failure_while_open_keeps_it_open_from_the_same_time():
    opened = BreakerState(BreakerPhase.OPEN, 3, since=100.0)
    assert fail(opened, 105.0) == BreakerState(BreakerPhase.OPEN, 4, since=100.0)


@pytest.mark.parametrize(
    "state",
    [BreakerState(), BreakerState(BreakerPhase.OPEN, 4, 1.5), BreakerState(BreakerPhase.HALF_OPEN, 1, 2)],
)
def test_breaker_state_survives_json(state):
    assert BreakerState.from_json(state.to_json()) == state
    assert BreakerState.from_json(None) == BreakerState()


# Rate window ---------------------------------------------------------------------------------------
RATE = RateLimitPolicy(max_requests=3, window_seconds=10.0)


def test_the_window_allows_n_requests_then_says_when_the_oldest_leaves():
    state = WindowState()
    for now in (0.0, 1.0, 2.0):
        decision = window_acquire(state, now, RATE)
        assert decision.wait == 0.0
        state = decision.state

    refused = window_acquire(state, 4.0, RATE)
    later = window_acquire(state, 10.5, RATE)

    assert refused.wait == pytest.approx(6.0)
    assert refused.state.sent == (0.0, 1.0, 2.0)
    assert later.wait == 0.0 and later.state.sent == (1.0, 2.0, 10.5)


def test_utilisation_leaves_headroom_for_other_clients():
    policy = RateLimitPolicy(max_requests=10, window_seconds=1.0, utilisation=0.8)
    state = WindowState()
    granted = 0
    while (decision := window_acquire(state, 0.0, policy)).wait == 0:
        state, granted = decision.state, granted + 1
    assert granted == 8
    assert RateLimitPolicy(max_requests=1, window_seconds=1, utilisation=0.1).allowed == 1


def test_the_margin_lengthens_our_window_beyond_the_vendors():
    policy = RateLimitPolicy(max_requests=1, window_seconds=10.0, margin_seconds=0.5)
    state = window_acquire(WindowState(), 0.0, policy).state

    assert window_acquire(state, 10.0, policy).wait == pytest.approx(0.5)
    assert window_acquire(state, 10.5, policy).wait == 0.0


def test_a_pause_the_vendor_asked_for_holds_every_request():
    state = WindowState(paused_until=50.0)
    assert window_acquire(state, 45.0, RATE).wait == 5.0
    assert window_acquire(state, 50.0, RATE).wait == 0.0


def test_following_the_window_never_trips_the_vendors_limit_and_uses_all_of_it():
    """Our window against the sandbox's limiter on one clock: no 429 at all, and 100% of the rate."""
    clock = [0.0]
    vendor = RateLimiter(190, 10.0, clock=lambda: clock[0])
    policy = RateLimitPolicy(max_requests=190, window_seconds=10.0)
    state, sent, refused = WindowState(), 0, 0
    while clock[0] < 60.0:
        decision = window_acquire(state, clock[0], policy)
        state = decision.state
        if decision.wait:
            clock[0] += decision.wait
            continue
        sent += 1
        refused += not vendor.hit().allowed
        clock[0] += 0.001  # the request's own latency

    assert refused == 0
    assert sent >= 6 * 190  # six full windows in sixty seconds


def test_it_reads_each_vendors_rate_limit_headers():
    hubspot = observe_headers(
        {
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Remaining": "0",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "Retry-After": "2",
        }
    )
    common = observe_headers({"x-ratelimit-limit": "700", "x-ratelimit-remaining": "12"})
    salesforce = observe_headers({"Sforce-Limit-Info": "api-usage=25/15000"})

    assert hubspot == ObservedLimit(limit=190, remaining=0, window_seconds=10.0, retry_after=2.0)
    assert common == ObservedLimit(limit=700, remaining=12)
    assert salesforce == ObservedLimit(limit=15000, remaining=14975)
    assert observe_headers({}) == ObservedLimit()


def test_it_pauses_for_retry_after_and_when_nothing_remains():
    state = WindowState(sent=(1.0, 4.0, 8.0))

    after_429 = window_observe(state, ObservedLimit(retry_after=3.0), 9.0, RATE)
    exhausted = window_observe(state, ObservedLimit(remaining=0, window_seconds=10.0), 9.0, RATE)
    unknown_history = window_observe(WindowState(), ObservedLimit(remaining=0), 9.0, RATE)
    keeps_longer = window_observe(WindowState(paused_until=30.0), ObservedLimit(retry_after=1.0), 9.0, RATE)
    nothing = window_observe(state, ObservedLimit(remaining=5), 9.0, RATE)

    assert after_429.paused_until == 12.0
    assert exhausted.paused_until == 11.0  # when our oldest request leaves the vendor's window
    assert unknown_history.paused_until == 19.0  # a whole window
    assert keeps_longer.paused_until == 30.0
    assert nothing == state


def test_window_state_survives_json():
    state = WindowState(sent=(1.0, 2.5), paused_until=7.0)
    assert WindowState.from_json(state.to_json()) == state
    assert WindowState.from_json(None) == WindowState()


def test_settling_moves_a_slot_to_when_the_answer_came():
    state = WindowState(sent=(1.0, 2.0, 3.0))

    settled = window_settle(state, 2.0, 4.5)

    assert settled.sent == (1.0, 3.0, 4.5)
    assert window_settle(state, 9.0, 10.0) == state  # a slot no longer on record stays gone
    assert window_settle(state, 3.0, 2.5).sent == (1.0, 2.0, 3.0)  # never earlier than it was taken
