"""Structured logs: one JSON object per line, each carrying the request's correlation id.

``CorrelationIdMiddleware`` takes the caller's ``X-Correlation-ID`` (when it is a sane token) or
makes one, keeps it in a context variable for everything the request logs, and returns it in the
response. Tasks set it from the action they work on (``bind_correlation_id``). Nothing here adds
request data to a record, and ``PersonalDataFilter`` (on every handler) replaces any email address
or phone number in a message, an extra field or a traceback by a hash (``audit.redaction``), so
one logged by mistake (a validation error quoting the bad address, say) never reaches the logs.
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

from audit.redaction import PERSONAL_KEYS, hash_value
from security.masking import EMAIL_IN_TEXT, PHONE_IN_TEXT

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


def redact_text(text: str) -> str:
    """``text`` with every email address and phone number replaced by its hash."""
    if not text:
        return text
    # The patterns masking uses for people: international or grouped national phones, never bare
    # digit runs (ids, counts) or dates.
    hashed = EMAIL_IN_TEXT.sub(lambda m: hash_value(m.group()), text)
    return PHONE_IN_TEXT.sub(lambda m: hash_value(m.group()), hashed)


def _redact_extra(key: str, value: object) -> object:
    if key.lower() in PERSONAL_KEYS and value not in (None, ""):
        return hash_value(value)
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_extra(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_extra(key, v) for v in value]
    return value


class PersonalDataFilter(logging.Filter):
    """Hashes emails and phone numbers in the message, the extra fields and the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_text(record.getMessage()), ()
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and not key.startswith("_"):
                setattr(record, key, _redact_extra(key, value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
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
        if record.exc_text:
            entry["exc"] = record.exc_text
        elif record.exc_info:
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
