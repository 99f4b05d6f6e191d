"""Guessing protection and session clocks for people signing in.

Failed sign-ins are counted in the cache (Redis in production, shared by every web process) per
username and per client address; past the limit within the window, that username or address is
locked for LOGIN_LOCK_MINUTES. The answer is the same whether the username exists or not.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

LOCKED_MESSAGE = "Too many failed sign-ins. Try again later."

# Session keys: when the person signed in, last proved their password, and was last seen.
SIGNED_IN_AT = "security.signed_in_at"
CONFIRMED_AT = "security.confirmed_at"
SEEN_AT = "security.seen_at"


def client_address(request: Any) -> str:
    """REMOTE_ADDR: behind a proxy, have it set the real client address (see docs/security.md)."""
    meta = getattr(request, "META", None) or getattr(getattr(request, "_request", None), "META", {})
    return str(meta.get("REMOTE_ADDR", ""))


def _keys(*, username: str, address: str) -> list[tuple[str, int]]:
    user = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    keys = [(f"signin:user:{user}", settings.LOGIN_MAX_FAILURES)]
    if address:
        keys.append((f"signin:addr:{address}", settings.LOGIN_MAX_FAILURES_PER_ADDRESS))
    return keys


def is_locked(*, username: str, address: str) -> bool:
    return any(cache.get(f"{key}:locked") for key, _ in _keys(username=username, address=address))


def record_failure(*, username: str, address: str) -> None:
    window = settings.LOGIN_FAILURE_WINDOW_MINUTES * 60
    for key, limit in _keys(username=username, address=address):
        cache.add(key, 0, timeout=window)
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            failures = 1
        if failures >= limit:
            cache.set(f"{key}:locked", True, timeout=settings.LOGIN_LOCK_MINUTES * 60)
            cache.delete(key)


def clear_failures(*, username: str) -> None:
    """A successful sign-in forgets that username's failures (not the address's)."""
    key, _ = _keys(username=username, address="")[0]
    cache.delete(key)


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
