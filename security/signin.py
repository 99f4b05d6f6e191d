"""Guessing protection and session clocks for people signing in.

Failed sign-ins are counted in the cache (Redis in production, shared by every web process), and
they slow guessing down without ever locking the right person out (security.backoff):

- per (username, address) pair: ``LOGIN_MAX_FAILURES`` free failures, then each failure doubles the
  wait before that pair's next attempt is even checked (1 s, 2 s, 4 s, … at most
  ``LOGIN_MAX_DELAY_MINUTES``). Failing as "approver" from one address never delays "approver" from
  another: an attacker cannot lock an approver out.
- per address, whatever the username: ``LOGIN_MAX_FAILURES_PER_ADDRESS`` free failures, then the
  same growing wait for every username tried from it (one address spraying many usernames).
- per username, from anywhere: past ``LOGIN_MAX_FAILURES_PER_USERNAME`` failures within the window
  (many addresses after one account), a pair that never signed in gets no free failures; its wait
  grows from its first failure. Nothing waits before a first attempt, so the owner still gets in.

An address that signed in as a username is remembered for ``LOGIN_KNOWN_ADDRESS_DAYS``: there, that
username keeps its free failures and is not held back by the address's own count (a shared office
address where someone sprays other usernames). A success forgets the pair's failures only. A
waiting attempt is refused before the password is checked, with how long to wait; the answer is
the same whether the username exists or not. Once a wait is over, one attempt takes the slot, so
firing many requests at that moment checks one password, not many.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from security.backoff import delay_after, seconds_left

THROTTLED = "Too many failed sign-ins."
# How long a claimed slot is held: far longer than one password check, short enough to free a slot
# whose attempt died before it could be counted.
SLOT_SECONDS = 30

# Session keys: when the person signed in, last proved their password, and was last seen.
SIGNED_IN_AT = "security.signed_in_at"
CONFIRMED_AT = "security.confirmed_at"
SEEN_AT = "security.seen_at"


def now() -> float:
    """The clock the throttle reads (tests replace it)."""
    return time.time()


def client_address(request: Any) -> str:
    """REMOTE_ADDR: behind a proxy, have it set the real client address (see docs/security.md)."""
    meta = getattr(request, "META", None) or getattr(getattr(request, "_request", None), "META", {})
    return str(meta.get("REMOTE_ADDR", ""))


def throttled_message(seconds: int) -> str:
    """What a refused attempt is told: how long to wait, nothing about the username."""
    return f"{THROTTLED} Try again in {seconds} second{'s' if seconds != 1 else ''}."


@dataclass(frozen=True)
class _Keys:
    pair: str
    address: str
    username: str
    known: str


def _keys(username: str, address: str) -> _Keys:
    user = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return _Keys(
        pair=f"signin:pair:{user}:{address}",
        address=f"signin:addr:{address}",
        username=f"signin:user:{user}",
        known=f"signin:known:{user}:{address}",
    )


def _cap() -> int:
    return max(1, settings.LOGIN_MAX_DELAY_MINUTES * 60)


def _window() -> int:
    return settings.LOGIN_FAILURE_WINDOW_MINUTES * 60


def _gates(keys: _Keys, address: str, state: dict[str, Any]) -> list[tuple[str, int]]:
    """The counters this attempt must get past, each with its free failures."""
    known = bool(state.get(keys.known))
    attacked = int(state.get(f"{keys.username}:n") or 0) >= settings.LOGIN_MAX_FAILURES_PER_USERNAME
    gates = [(keys.pair, settings.LOGIN_MAX_FAILURES if known or not attacked else 0)]
    if address and not known:
        gates.append((keys.address, settings.LOGIN_MAX_FAILURES_PER_ADDRESS))
    return gates


def attempt_wait(*, username: str, address: str) -> int:
    """Seconds this attempt must still wait before its password may be checked; 0 lets it through.

    A 0 for an attempt past its free failures also claims the slot the wait opened: a concurrent
    attempt of the same pair or address is told to wait a second instead of being checked too.
    """
    keys = _keys(username, address)
    names = [keys.known, f"{keys.username}:n"]
    for counter in (keys.pair, keys.address):
        names += [f"{counter}:n", f"{counter}:at"]
    state = cache.get_many(names)
    at, cap = now(), _cap()
    gates = _gates(keys, address, state)
    wait = 0
    for counter, free in gates:
        failures = int(state.get(f"{counter}:n") or 0)
        last = state.get(f"{counter}:at")
        wait = max(wait, seconds_left(failures=failures, last_failure_at=last, now=at, free=free, cap=cap))
    if wait:
        return wait
    claimed: list[str] = []
    for counter, free in gates:
        failures = int(state.get(f"{counter}:n") or 0)
        if delay_after(failures, free=free, cap=cap) == 0:
            continue
        slot = f"{counter}:slot:{state.get(f'{counter}:at')}"
        if not cache.add(slot, True, timeout=SLOT_SECONDS):
            cache.delete_many(claimed)
            return 1
        claimed.append(slot)
    return 0


def _count(counter: str, *, at: float, timeout_for: Any) -> None:
    key = f"{counter}:n"
    cache.add(key, 0, timeout=_window())
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=_window())
        failures = 1
    # Kept until the wait it earned is over and a window has passed, so a long wait is never forgotten
    # halfway (which would give the free failures back).
    timeout = timeout_for(failures)
    cache.touch(key, timeout)
    cache.set(f"{counter}:at", at, timeout=timeout)


def record_failure(*, username: str, address: str) -> None:
    """Count a failed attempt for the pair, the address and the username."""
    keys = _keys(username, address)
    at, cap, window = now(), _cap(), _window()

    def kept(failures: int) -> int:
        return delay_after(failures, free=0, cap=cap) + window

    _count(keys.pair, at=at, timeout_for=kept)
    if address:
        _count(keys.address, at=at, timeout_for=kept)
    _count(keys.username, at=at, timeout_for=lambda _: window)


def record_success(*, username: str, address: str) -> None:
    """A successful sign-in forgets the pair's failures and remembers the address as the username's.

    The address's and the username's counts stay: one valid account must not wash an address that
    sprays others, nor end an attack on the username from elsewhere.
    """
    keys = _keys(username, address)
    cache.delete_many([f"{keys.pair}:n", f"{keys.pair}:at"])
    if address:
        cache.set(keys.known, True, timeout=settings.LOGIN_KNOWN_ADDRESS_DAYS * 86400)


def mark_signed_in(request: HttpRequest) -> None:
    now = time.time()
    request.session[SIGNED_IN_AT] = now
    request.session[CONFIRMED_AT] = now
    request.session[SEEN_AT] = now


def mark_confirmed(request: HttpRequest) -> None:
    request.session[CONFIRMED_AT] = time.time()


def recently_confirmed(request: HttpRequest) -> bool:
    """Did this person prove their password within the last REAUTH_MINUTES?"""
    confirmed = request.session.get(CONFIRMED_AT)
    return confirmed is not None and time.time() - float(confirmed) < settings.REAUTH_MINUTES * 60


def needs_confirmation(request: HttpRequest, *, risk_level: str) -> bool:
    """Deciding an item of this risk needs a password proved within REAUTH_MINUTES."""
    return risk_level in settings.REAUTH_RISK_LEVELS and not recently_confirmed(request)
