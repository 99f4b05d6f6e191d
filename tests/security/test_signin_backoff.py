"""The sign-in delay maths (pure): free attempts, then a delay that doubles up to a cap."""

from __future__ import annotations

import pytest

from security.backoff import delay_after, seconds_left


@pytest.mark.parametrize("failures", range(0, 6))
def test_it_asks_no_delay_within_the_free_failures(failures):
    assert delay_after(failures, free=5, cap=900) == 0


@pytest.mark.parametrize(
    ("failures", "expected"), [(6, 1), (7, 2), (8, 4), (9, 8), (10, 16), (15, 512), (16, 900), (17, 900)]
)
def test_it_doubles_the_delay_after_each_failure_past_the_free_ones_up_to_the_cap(failures, expected):
    assert delay_after(failures, free=5, cap=900) == expected


def test_with_no_free_failures_the_first_failure_already_costs_a_second():
    assert [delay_after(n, free=0, cap=60) for n in range(0, 9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_it_never_overflows_on_a_huge_count():
    assert delay_after(10**9, free=5, cap=900) == 900


def test_the_delay_never_decreases_as_failures_grow():
    delays = [delay_after(n, free=3, cap=300) for n in range(0, 200)]
    assert delays == sorted(delays) and max(delays) == 300


@pytest.mark.parametrize(("free", "cap"), [(-1, 10), (0, 0), (0, -5)])
def test_it_refuses_nonsense_settings(free, cap):
    with pytest.raises(ValueError, match="free|cap"):
        delay_after(7, free=free, cap=cap)


def test_seconds_left_counts_from_the_last_failure_and_rounds_up():
    assert seconds_left(failures=7, last_failure_at=100.0, now=100.5, free=5, cap=900) == 2  # 2 s delay
    assert seconds_left(failures=7, last_failure_at=100.0, now=102.0, free=5, cap=900) == 0
    assert seconds_left(failures=7, last_failure_at=100.0, now=101.1, free=5, cap=900) == 1
    assert seconds_left(failures=3, last_failure_at=100.0, now=100.0, free=5, cap=900) == 0
    assert seconds_left(failures=0, last_failure_at=None, now=100.0, free=0, cap=900) == 0
