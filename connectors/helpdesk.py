"""What the helpdesk connectors (Zendesk, Intercom) share beyond the error mapping of ``connectors.crm``:
Intercom's reset header, Unix timestamps and the emulators' page cursors. Pure functions, no client imports.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from connectors import crm
from connectors.base import ConnectorError

#: How many records one incremental page asks for (both vendors allow more; smaller pages commit sooner).
PAGE_SIZE = 100


def error_for_status(
    status: int, message: str, headers: Mapping[str, str] | None = None, *, now: float | None = None
) -> ConnectorError:
    """``crm.error_for_status`` (the shared mapping), and when a retryable answer has no
    ``Retry-After``, the wait from ``X-RateLimit-Reset`` (a Unix time: Intercom's way)."""
    error = crm.error_for_status(status, message, headers, now=now)
    if error.retryable and error.retry_after is None:
        error.retry_after = _until_reset(headers or {}, now=now)
    return error


def _until_reset(headers: Mapping[str, str], *, now: float | None) -> float | None:
    reset = next((v for k, v in headers.items() if k.lower() == "x-ratelimit-reset"), None)
    if reset is None or not reset.strip().isdigit():
        return None
    return max(float(reset) - (time.time() if now is None else now), 0.0)


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
