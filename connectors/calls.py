"""Every HTTP call a connector makes, logged and counted, whichever official client makes it.

The vendors' clients send through urllib3 (hubspot-api-client directly; simple-salesforce and zenpy
through requests) or httpx (python-intercom). ``install()`` wraps the one method each of those
sends a request through, once per process; the wrappers do nothing unless ``calls_logged(…)`` is
active in the current context, so only the executor's calls are recorded. Each call becomes one
JSON log line (logger ``connectors.calls``: method, path, status, latency, attempt, error code,
action, correlation id) and two Prometheus samples (``agentops_connector_calls_total``,
``agentops_connector_call_duration_seconds``). Paths are logged without their query string.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import urllib3
from prometheus_client import Counter, Histogram

from audit.logs import bind_correlation_id

logger = logging.getLogger(__name__)

# In the default registry, which ``/metrics`` reads (``operations.metrics``); registered at startup,
# since ``ConnectorsConfig.ready`` imports the executor, which imports this module.
CONNECTOR_CALLS = Counter(
    "agentops_connector_calls",
    "HTTP calls to systems of record, by connection, vendor and status (or timeout / connection).",
    ["connection", "vendor", "status"],
)
CONNECTOR_CALL_SECONDS = Histogram(
    "agentops_connector_call_duration_seconds",
    "Time a call to a system of record took, by connection.",
    ["connection"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


@dataclass(frozen=True)
class CallContext:
    """Who is calling: the connection, and the action attempt the calls belong to."""

    connection: str
    vendor: str
    action_id: int | None = None
    attempt: int | None = None
    correlation_id: str = ""


_context: ContextVar[CallContext | None] = ContextVar("connector_call_context", default=None)
# Set while a call is being recorded, so a client that nests sends (a retry inside urllib3) counts once.
_inside: ContextVar[bool] = ContextVar("connector_call_inside", default=False)
_install_lock = threading.Lock()
_installed = False


@contextmanager
def calls_logged(context: CallContext) -> Iterator[None]:
    """Record every HTTP call made inside the block under ``context`` (and log under its correlation id)."""
    install()
    token = _context.set(context)
    try:
        with bind_correlation_id(context.correlation_id):
            yield
    finally:
        _context.reset(token)


def error_code(exc: BaseException) -> str:
    """``timeout`` or ``connection`` for a call that got no answer."""
    timeouts = (urllib3.exceptions.TimeoutError, httpx.TimeoutException, TimeoutError)
    if isinstance(exc, timeouts) or isinstance(getattr(exc, "reason", None), timeouts):
        return "timeout"
    return "connection"


def record_call(
    context: CallContext, *, method: str, url: str, status: int | None, seconds: float, error: str = ""
) -> None:
    """Log and count one call (``status`` None: no answer, ``error`` says why)."""
    outcome = str(status) if status is not None else (error or "connection")
    CONNECTOR_CALLS.labels(context.connection, context.vendor, outcome).inc()
    CONNECTOR_CALL_SECONDS.labels(context.connection).observe(seconds)
    logger.info(
        "connector call %s %s: %s",
        method,
        urlsplit(url).path,
        outcome,
        extra={
            "connection": context.connection,
            "vendor": context.vendor,
            "method": method,
            "path": urlsplit(url).path,
            "status": status,
            "latency_ms": round(seconds * 1000, 1),
            "attempt": context.attempt,
            "error_code": error,
            "action_id": context.action_id,
        },
    )


def _timed(send: Callable[[], Any], method: str, url: str, status_of: Callable[[Any], int]) -> Any:
    context = _context.get()
    if context is None or _inside.get():
        return send()
    token = _inside.set(True)
    started = time.perf_counter()
    try:
        response = send()
    except Exception as exc:
        record_call(
            context,
            method=method,
            url=url,
            status=None,
            seconds=time.perf_counter() - started,
            error=error_code(exc),
        )
        raise
    finally:
        _inside.reset(token)
    record_call(
        context, method=method, url=url, status=status_of(response), seconds=time.perf_counter() - started
    )
    return response


def install() -> None:
    """Wrap urllib3's and httpx's send methods (once per process; safe to call again)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        pool = urllib3.connectionpool.HTTPConnectionPool
        urlopen = pool.urlopen

        def logged_urlopen(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            return _timed(
                lambda: urlopen(self, method, url, *args, **kwargs), method, url, lambda r: int(r.status)
            )

        pool.urlopen = logged_urlopen  # type: ignore[method-assign]

        handle = httpx.HTTPTransport.handle_request

        def logged_handle(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            return _timed(
                lambda: handle(self, request), request.method, str(request.url), lambda r: int(r.status_code)
            )

        httpx.HTTPTransport.handle_request = logged_handle  # type: ignore[method-assign]
        _installed = True
