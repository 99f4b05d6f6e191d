"""The KPIs as daily series read from the database: one function per KPI, registered by name.

Each returns ``{day: (numerator, denominator)}`` for the days since ``start`` (one grouped query),
so the dashboard costs one query per KPI whatever the volume. The support bot's figures
(containment, FCR, CSAT, AHT and escalation rate) are defined by support (``support.kpis``) and
listed after ours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncDate

from core.kpis import KpiDef, Series
from support.kpis import SUPPORT_KPIS

KPIS: dict[str, KpiDef] = {}


def kpi(
    name: str, label: str, description: str, *, higher_is_better: bool = True, unit: str = "%"
) -> Callable[[Callable[[datetime], Series]], Callable[[datetime], Series]]:
    def register(read: Callable[[datetime], Series]) -> Callable[[datetime], Series]:
        KPIS[name] = KpiDef(name, label, description, read, higher_is_better, unit)
        return read

    return register


def grouped(queryset: QuerySet[Any], day_field: str, hit: Q) -> Series:
    """``{day: (hits, total)}`` of ``queryset`` by the date of ``day_field``."""
    rows = (
        queryset.annotate(day=TruncDate(day_field))
        .values("day")
        .annotate(total=Count("id"), hits=Count("id", filter=hit))
        .values_list("day", "hits", "total")
        .order_by()
    )
    return {day: (hits, total) for day, hits, total in rows}


@kpi("reply_rate", "Reply rate", "Share of cadence touches the contact replied to, by the day of the touch.")
def reply_rate(start: datetime) -> Series:
    from sales.models import Touch

    touches = Touch.objects.filter(touched_at__gte=start, status__in=["proposed", "sent"])
    return grouped(touches, "touched_at", Q(replied_at__isnull=False))


@kpi("meeting_conversion", "Meeting conversion", "Share of cadence touches followed by a booked meeting.")
def meeting_conversion(start: datetime) -> Series:
    from sales.models import Touch

    touches = Touch.objects.filter(touched_at__gte=start, status__in=["proposed", "sent"])
    return grouped(touches, "touched_at", Q(meeting_at__isnull=False))


@kpi(
    "approval_sla_attainment",
    "Approval SLA attainment",
    "Share of people's decisions made within the item's SLA.",
)
def approval_sla_attainment(start: datetime) -> Series:
    from approvals.models import Decision

    decisions = Decision.objects.filter(created_at__gte=start, decided_by__isnull=False).exclude(
        outcome="defer"
    )
    return grouped(
        decisions,
        "created_at",
        Q(action__sla_due_at__isnull=True) | Q(created_at__lte=F("action__sla_due_at")),
    )


@kpi(
    "override_rate",
    "Override rate",
    "Share of people's decisions that edited or rejected the agent's proposal.",
    higher_is_better=False,
)
def override_rate(start: datetime) -> Series:
    from approvals.models import Decision

    decisions = Decision.objects.filter(created_at__gte=start, decided_by__isnull=False).exclude(
        outcome="defer"
    )
    return grouped(decisions, "created_at", Q(outcome__in=["edit_approve", "reject"]))


# The support bot's figures, after ours.
KPIS.update((definition.name, definition) for definition in SUPPORT_KPIS)
