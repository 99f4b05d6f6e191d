"""The live metrics auto-pause rules watch, read from the database: one function per metric.

Each takes the rule (its window, baseline period and optional action kind) and ``now`` and returns
a ``Reading``; ``READINGS`` maps the metric names of ``AutoPauseMetric`` to them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet

from operations.autopause import DROP, LEVEL, Reading
from operations.models import AutoPauseRule

Reader = Callable[[AutoPauseRule, datetime], Reading]
READINGS: dict[str, tuple[str, Reader]] = {}


def reading(metric: str, comparison: str) -> Callable[[Reader], Reader]:
    def register(fn: Reader) -> Reader:
        READINGS[metric] = (comparison, fn)
        return fn

    return register


def _attempts(rule: AutoPauseRule, now: datetime) -> QuerySet[Any]:
    """Execution attempts with an outcome that started within the window (of one kind, if set)."""
    from connectors.models import ExecutionAttempt

    attempts = ExecutionAttempt.objects.filter(
        started_at__gt=now - timedelta(minutes=rule.window_minutes), started_at__lte=now
    ).exclude(outcome="pending")
    return attempts.filter(action__kind=rule.action_kind) if rule.action_kind else attempts


def _share(attempts: QuerySet[Any], hit: Q) -> Reading:
    counts = attempts.aggregate(n=Count("id"), hits=Count("id", filter=hit))
    n = counts["n"] or 0
    return Reading(counts["hits"] / n if n else 0.0, n)


@reading("outbound_error_rate", LEVEL)
def outbound_error_rate(rule: AutoPauseRule, now: datetime) -> Reading:
    """Share of outbound call attempts in the window that failed or ended with an unknown outcome
    (timeouts, dropped connections, 5xx), whether or not a retry later succeeded."""
    return _share(_attempts(rule, now), Q(outcome__in=["error", "unknown"]))


@reading("rate_limited_share", LEVEL)
def rate_limited_share(rule: AutoPauseRule, now: datetime) -> Reading:
    """Share of outbound call attempts in the window that the vendor answered 429."""
    return _share(_attempts(rule, now), Q(status_code=429))


def _touch_rate(rule: AutoPauseRule, now: datetime, outcome: str) -> Reading:
    from sales.choices import TouchStatus
    from sales.models import Touch

    window = timedelta(minutes=rule.window_minutes)
    delivered = Touch.objects.filter(status__in=[TouchStatus.PROPOSED, TouchStatus.SENT])
    if rule.action_kind:
        delivered = delivered.filter(action__kind=rule.action_kind)

    def rate(start: datetime, end: datetime) -> tuple[float | None, int]:
        counts = delivered.filter(touched_at__gt=start, touched_at__lte=end).aggregate(
            n=Count("id"), hits=Count("id", filter=Q(**{f"{outcome}__isnull": False}))
        )
        n = counts["n"] or 0
        return (counts["hits"] / n if n else None), n

    recent, samples = rate(now - window, now)
    baseline, _ = rate(now - window - timedelta(days=rule.baseline_days), now - window)
    return Reading(recent or 0.0, samples, baseline)


@reading("reply_rate_drop", DROP)
def reply_rate_drop(rule: AutoPauseRule, now: datetime) -> Reading:
    """Reply rate of the touches of the window against the touches of the baseline period before it."""
    return _touch_rate(rule, now, "replied_at")


@reading("meeting_rate_drop", DROP)
def meeting_rate_drop(rule: AutoPauseRule, now: datetime) -> Reading:
    return _touch_rate(rule, now, "meeting_at")


@reading("drift_alerts", LEVEL)
def drift_alerts(rule: AutoPauseRule, now: datetime) -> Reading:
    """Open drift alerts of the champion lead model (value and samples: their number)."""
    from scoring.models import DriftAlert

    n = DriftAlert.objects.filter(status="open", model_version__status="champion").count()
    return Reading(float(n), n)


@reading("csat_drop", DROP)
def csat_drop(rule: AutoPauseRule, now: datetime) -> Reading:
    """Share of survey answers scored 4 or 5 in the window against the baseline period before it."""
    from support.models import SurveyResponse

    window = timedelta(minutes=rule.window_minutes)

    def satisfied(start: datetime, end: datetime) -> tuple[float | None, int]:
        counts = SurveyResponse.objects.filter(responded_at__gt=start, responded_at__lte=end).aggregate(
            n=Count("id"), good=Count("id", filter=Q(score__gte=4))
        )
        n = counts["n"] or 0
        return (counts["good"] / n if n else None), n

    recent, samples = satisfied(now - window, now)
    baseline, _ = satisfied(now - window - timedelta(days=rule.baseline_days), now - window)
    return Reading(recent or 0.0, samples, baseline)
