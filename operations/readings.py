"""The live metrics auto-pause rules watch, read from the database: one function per metric.

Each takes the rule (its window, baseline period and optional action kind) and ``now`` and returns
a ``Reading``; ``READINGS`` maps the metric names of ``AutoPauseMetric`` to them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db.models import Count, Q

from operations.autopause import DROP, LEVEL, Reading
from operations.models import AutoPauseRule

Reader = Callable[[AutoPauseRule, datetime], Reading]
READINGS: dict[str, tuple[str, Reader]] = {}


def reading(metric: str, comparison: str) -> Callable[[Reader], Reader]:
    def register(fn: Reader) -> Reader:
        READINGS[metric] = (comparison, fn)
        return fn

    return register


@reading("outbound_error_rate", LEVEL)
def outbound_error_rate(rule: AutoPauseRule, now: datetime) -> Reading:
    """Failed share of the executions that started within the window (of one kind, if set)."""
    from approvals.models import ProposedAction

    started = ProposedAction.objects.filter(
        execution_started_at__gt=now - timedelta(minutes=rule.window_minutes),
        execution_started_at__lte=now,
        status__in=["executed", "failed"],
    )
    if rule.action_kind:
        started = started.filter(kind=rule.action_kind)
    counts = started.aggregate(n=Count("id"), failed=Count("id", filter=Q(status="failed")))
    n = counts["n"] or 0
    return Reading(counts["failed"] / n if n else 0.0, n)


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
