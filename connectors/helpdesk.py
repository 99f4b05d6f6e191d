"""What the helpdesk connectors (Zendesk, Intercom) share: HTTP status to ``ConnectorError``, and timestamps.

Pure functions, no client imports, so each vendor maps its own client's exceptions onto them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from connectors.base import ConnectorError

#: How many records one incremental page asks for (both vendors allow more; smaller pages commit sooner).
PAGE_SIZE = 100

_CODES = {
    400: "invalid",
    401: "unauthorised",
    403: "unauthorised",
    404: "not_found",
    422: "invalid",
    429: "rate_limited",
}


def error_for_status(
    status: int, message: str, headers: Mapping[str, str] | None = None, *, now: float | None = None
) -> ConnectorError:
    """The ``ConnectorError`` for an HTTP error answer: 408, 409, 429 and 5xx may succeed later.

    ``retry_after`` comes from ``Retry-After`` (seconds) or, failing that, ``X-RateLimit-Reset``
    (a Unix time, Intercom's way).
    """
    retryable = status in (408, 409, 429) or status >= 500
    code = _CODES.get(status, "server_error" if status >= 500 else "conflict" if status == 409 else "invalid")
    return ConnectorError(
        f"{status}: {message}"[:500],
        retryable=retryable,
        status=status,
        code=code,
        retry_after=retry_after_from(headers or {}, now=now) if retryable else None,
    )


def retry_after_from(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` or ``X-RateLimit-Reset``; None when neither says."""
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value is not None and value.strip().replace(".", "", 1).isdigit():
        return float(value)
    reset = lowered.get("x-ratelimit-reset")
    if reset is not None and reset.strip().isdigit():
        return max(float(reset) - (time.time() if now is None else now), 0.0)
    return None


def timeout_error(exc: Exception) -> ConnectorError:
    """A call that got no answer in time: retryable, but a write's outcome is unknown."""
    return ConnectorError(f"timed out: {exc}", retryable=True, code="timeout")


def connection_error(exc: Exception) -> ConnectorError:
    return ConnectorError(f"connection failed: {exc}", retryable=True, code="connection")


def from_unix(seconds: int | float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def unix(moment: datetime | None) -> int:
    """Whole Unix seconds of ``moment`` (0 for None: from the beginning)."""
    return 0 if moment is None else int(moment.timestamp())


def encode_position(stamp: int, record_id: int | str) -> str:
    """An opaque cursor for "after the record ``record_id`` modified at ``stamp``" (the emulators' pages)."""
    return base64.urlsafe_b64encode(json.dumps([int(stamp), int(record_id)]).encode()).decode()


def decode_position(cursor: str) -> tuple[int, int] | None:
    """The position in a cursor from ``encode_position``; None when it is not one."""
    try:
        stamp, record_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return int(stamp), int(record_id)
    except (ValueError, TypeError):
        return None
