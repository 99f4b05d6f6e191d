"""Structured logs: one JSON object per line, each carrying the request's correlation id.

``CorrelationIdMiddleware`` takes the caller's ``X-Correlation-ID`` (when it is a sane token) or
makes one, keeps it in a context variable for everything the request logs, and returns it in the
response. Tasks set it from the action they work on (``bind_correlation_id``). Nothing here adds
request data to a record, so personal data reaches the logs only if code logs it on purpose
(which it does not: ids and hashes only).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson
from django.http import HttpRequest, HttpResponse

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="")
HEADER = "X-Correlation-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "correlation_id"}


@contextmanager
def bind_correlation_id(value: str) -> Iterator[None]:
    """Log under ``value`` inside the block (a task working on one action, say)."""
    token = correlation_id.set(str(value))
    try:
        yield
    finally:
        correlation_id.reset(token)


class CorrelationIdFilter(logging.Filter):
    """Puts the current correlation id on every record (empty outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "correlation_id", ...extra fields, "exc"}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", "") or correlation_id.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class CorrelationIdMiddleware:
    """Binds each request to a correlation id and echoes it in the response header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(HEADER, "")
        value = given if _SANE.match(given) else uuid.uuid4().hex
        request.correlation_id = value  # type: ignore[attr-defined]
        with bind_correlation_id(value):
            response = self.get_response(request)
        response[HEADER] = value
        return response
