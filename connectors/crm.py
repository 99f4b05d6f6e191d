"""What the CRM connectors (Salesforce, HubSpot) share: HTTP answers and transport failures to
``ConnectorError``. Pure functions with no client imports; each vendor maps its client's exceptions.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from connectors.base import ConnectorError

T = TypeVar("T")

_CODES = {
    400: "invalid",
    401: "unauthorised",
    403: "unauthorised",
    404: "not_found",
    408: "timeout",
    409: "conflict",  # HubSpot: the record already exists; repeating will not help
    422: "invalid",
    429: "rate_limited",
}


def error_for_status(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    code: str | None = None,
    now: float | None = None,
) -> ConnectorError:
    """The ``ConnectorError`` for an HTTP error answer: only 408, 429 and 5xx may succeed later.

    ``code`` overrides the status's code (a vendor's own "rate limited" on a 403, say);
    ``retry_after`` comes from the ``Retry-After`` header (seconds or an HTTP date).
    """
    code = code or _CODES.get(status) or ("server_error" if status >= 500 else "invalid")
    retryable = code in ("rate_limited", "server_error", "timeout")
    return ConnectorError(
        f"{status}: {message}"[:500],
        retryable=retryable,
        status=status,
        code=code,
        retry_after=retry_after_from(headers or {}, now=now) if retryable else None,
    )


def retry_after_from(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait according to ``Retry-After`` (delta seconds or HTTP date); None if absent."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - (time.time() if now is None else now), 0.0)


def timeout_error(exc: BaseException) -> ConnectorError:
    """No answer in time: retryable, but a write's outcome is unknown (check its marker first)."""
    return ConnectorError(f"timed out: {exc}", retryable=True, code="timeout")


def connection_error(exc: BaseException) -> ConnectorError:
    """The connection failed or was dropped: retryable; a write's outcome is unknown."""
    return ConnectorError(f"connection failed: {exc}", retryable=True, code="connection")


def none_if_not_found(call: Callable[[], T]) -> T | None:
    """``call()``, or None when it raised a ``not_found`` ``ConnectorError`` (a lookup that missed)."""
    try:
        return call()
    except ConnectorError as exc:
        if exc.code == "not_found":
            return None
        raise
