"""Validation of incoming record rows (API batches and file imports), as plain functions.

Each field has a parser that returns the clean value or raises ``FieldError`` with a reason a
person can act on. ``clean_row`` applies a spec and collects every error of a row, each naming
its field, so a batch can report all bad rows at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import available_timezones

Parser = Callable[[Any], Any]


class FieldError(ValueError):
    """A field value that cannot be accepted; the message says why."""


class FormatError(ValueError):
    """A whole file is not in the expected format (wrong columns or delimiter)."""


@dataclass(frozen=True)
class RowError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def text(max_length: int, *, required: bool = False) -> Parser:
    def parse(value: Any) -> str:
        if value is None:
            value = ""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise FieldError("must be a string")
        value = str(value).strip()
        if required and not value:
            raise FieldError("is required and may not be blank")
        if len(value) > max_length:
            raise FieldError(f"is longer than {max_length} characters ({len(value)})")
        return value

    return parse


def optional_text(max_length: int) -> Parser:
    """Like ``text`` but blank becomes None (for ids that must be unique when present)."""
    inner = text(max_length)

    def parse(value: Any) -> str | None:
        return inner(value) or None

    return parse


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def email(value: Any) -> str:
    value = text(254)(value).lower()
    if value and not _EMAIL.match(value):
        raise FieldError(f"'{value}' is not a valid email address")
    return str(value)


def choice(choices: Collection[str]) -> Parser:
    def parse(value: Any) -> str:
        if value not in choices:
            raise FieldError(f"'{value}' is not one of: {', '.join(sorted(choices))}")
        return str(value)

    return parse


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "1"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "no", "0"}:
        return False
    raise FieldError("must be true or false")


def decimal(*, min_value: Decimal | None = None, max_digits: int = 14, places: int = 2) -> Parser:
    def parse(value: Any) -> Decimal | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise FieldError("must be a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise FieldError(f"'{value}' is not a number") from None
        if not number.is_finite():
            raise FieldError("must be a finite number")
        if min_value is not None and number < min_value:
            raise FieldError(f"must be at least {min_value}")
        try:
            number = number.quantize(Decimal(1).scaleb(-places))
        except InvalidOperation:
            raise FieldError(f"has more than {max_digits} digits") from None
        if len(number.as_tuple().digits) > max_digits:
            raise FieldError(f"has more than {max_digits} digits")
        return number

    return parse


def number(*, min_value: float | None = None, max_value: float | None = None) -> Parser:
    def parse(value: Any) -> float | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise FieldError("must be a number")
        try:
            result = float(value)
        except (TypeError, ValueError):
            raise FieldError(f"'{value}' is not a number") from None
        if result != result or result in (float("inf"), float("-inf")):
            raise FieldError("must be a finite number")
        if min_value is not None and result < min_value:
            raise FieldError(f"must be at least {min_value}")
        if max_value is not None and result > max_value:
            raise FieldError(f"must be at most {max_value}")
        return result

    return parse


def aware_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FieldError(f"'{value}' is not an ISO-8601 date-time") from None
    else:
        raise FieldError("must be an ISO-8601 date-time string")
    if parsed.tzinfo is None:
        raise FieldError("must include a time zone offset (e.g. 2026-01-31T09:00:00Z)")
    return parsed.astimezone(UTC)


def json_object(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise FieldError("must be a JSON object")
    for key in value:
        if not isinstance(key, str) or not key:
            raise FieldError("keys must be non-empty strings")
    return dict(value)


_TIMEZONES: frozenset[str] | None = None


def time_zone(value: Any) -> str:
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(available_timezones())
    value = text(64)(value) or "UTC"
    if value not in _TIMEZONES:
        raise FieldError(f"'{value}' is not an IANA time zone (e.g. Europe/Berlin)")
    return str(value)


def country_code(value: Any) -> str:
    value = text(2)(value).upper()
    if value and not re.fullmatch(r"[A-Z]{2}", value):
        raise FieldError(f"'{value}' is not an ISO 3166 alpha-2 country code")
    return str(value)


def clean_row(
    row: Any, spec: Mapping[str, Parser], *, required: Collection[str] = ()
) -> tuple[dict[str, Any], list[RowError]]:
    """Validate one row against ``spec``; return the clean values present and every error found.

    Unknown fields are errors (fail closed); absent optional fields are left out of the result,
    so an upsert keeps what is stored for them.
    """
    if not isinstance(row, Mapping):
        return {}, [RowError("(row)", "must be a JSON object")]
    errors: list[RowError] = []
    values: dict[str, Any] = {}
    for name in required:
        if name not in row:
            errors.append(RowError(name, "is required"))
    for name, raw in row.items():
        parser = spec.get(name)
        if parser is None:
            errors.append(RowError(str(name), "is not a known field"))
            continue
        try:
            values[name] = parser(raw)
        except FieldError as exc:
            errors.append(RowError(name, str(exc)))
    return values, errors
