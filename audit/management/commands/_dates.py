"""Date options shared by the audit commands: whole UTC days, ``--to`` included."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.core.management.base import CommandError
from django.utils.dateparse import parse_date


def day_start(value: str, *, option: str, inclusive_end: bool = False) -> datetime:
    """The UTC start of day ``value`` (YYYY-MM-DD), or of the day after when it ends a range."""
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None:
        raise CommandError(f"{option}: '{value}' is not a date (YYYY-MM-DD)")
    if inclusive_end:
        day += timedelta(days=1)
    return datetime.combine(day, time.min, tzinfo=UTC)
