"""Signing and verifying AgentOps callbacks: HMAC-SHA256 over ``"<timestamp>.<body>"``. Stdlib only.

The server signs every decision callback with the callback secret of the API key that proposed
the action (each integration has its own, ``whsec_…``, shown once when its key is issued) and sends ``X-AgentOps-Timestamp`` (Unix seconds) and ``X-AgentOps-Signature: sha256=<hex>``. A receiver
recomputes the signature over the exact bytes it received and refuses old timestamps, so a captured
callback cannot be replayed later. This module is the one definition of that scheme: the server
imports it to sign, integrations import it to verify.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-AgentOps-Timestamp"
SIGNATURE_HEADER = "X-AgentOps-Signature"
DEFAULT_MAX_AGE = 300  # seconds, either way (clock skew)


def sign(*, body: bytes, timestamp: int, secret: str) -> str:
    """The signature header value for ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    if not secret:
        raise ValueError("secret: an empty secret cannot sign anything")
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    *,
    body: bytes,
    timestamp: str | int,
    signature: str,
    secret: str,
    max_age: int = DEFAULT_MAX_AGE,
    now: float | None = None,
) -> bool:
    """True only if ``signature`` signs exactly ``body`` at ``timestamp`` with ``secret`` and the
    timestamp is within ``max_age`` seconds of ``now``. Compares in constant time."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > max_age:
        return False
    expected = sign(body=body, timestamp=sent_at, secret=secret).encode("ascii")
    return hmac.compare_digest(expected, (signature or "").encode("utf-8"))
