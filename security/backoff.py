"""Sign-in delay maths (pure: no ORM, no cache, no clock).

A counter of failed sign-ins allows ``free`` failures; after that each failure makes the next
attempt wait twice as long as the one before (1 s, 2 s, 4 s, …), never longer than ``cap`` seconds.
Nothing here ever locks anyone out for good: the delay only slows guessing down.
"""

from __future__ import annotations

import math

BASE_SECONDS = 1


def delay_after(failures: int, *, free: int, cap: int) -> int:
    """Seconds to wait, counted from the last failure, before the next attempt is even checked."""
    if free < 0:
        raise ValueError(f"free must be 0 or more, got {free}")
    if cap < 1:
        raise ValueError(f"cap must be at least 1 second, got {cap}")
    past = failures - free
    if past <= 0:
        return 0
    # 2**(past-1) passes any sane cap long before it could overflow; stop doubling there.
    if past - 1 >= cap.bit_length():
        return cap
    return min(cap, BASE_SECONDS * 2 ** (past - 1))


def seconds_left(*, failures: int, last_failure_at: float | None, now: float, free: int, cap: int) -> int:
    """Whole seconds (rounded up) still to wait at ``now``; 0 when an attempt may be checked."""
    delay = delay_after(failures, free=free, cap=cap)
    if delay == 0 or last_failure_at is None:
        return 0
    return max(0, math.ceil(last_failure_at + delay - now))
