"""Reads for the support pages (HackSoft-style selectors)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from scoring.choices import ModelKind, ModelStatus
from scoring.models import ModelVersion
from support.choices import ArticleStatus
from support.handoff import HandoffRule
from support.metrics import (
    Figures,
    MetricRow,
    TicketFacts,
    by_day,
    by_intent,
    figure_cells,
    metric_rows,
    total,
)
from support.models import Article, HandoffRoute, IntentPolicy, SupportSettings, Ticket


def intent_version_holdout() -> ModelVersion | None:
    """The champion intent model, else the newest one (thresholds are set before a promotion too),
    with its stored hold-out predictions and without its artifact; one query."""
    is_champion = ExpressionWrapper(Q(status=ModelStatus.CHAMPION), output_field=BooleanField())
    return (
        ModelVersion.objects.filter(kind=ModelKind.INTENT)
        .annotate(is_champion=is_champion)
        .order_by("-is_champion", "-version")
        .only("id", "kind", "name", "version", "status", "reference", "preprocessing", "metrics")
        .first()
    )


def intent_policies() -> list[IntentPolicy]:
    return list(IntentPolicy.objects.order_by("intent"))


#: What the bot's read-only account lookup reads from the local mirror of the customer's account
#: (``sales.Account``, kept in step with the CRM by the connectors): the name, and the plan and
#: billing status when the CRM provides them. Nothing here writes.
LOOKUP_ATTRIBUTES = ("plan", "billing_status", "seats")


def account_lookup_read(*, account_id: int) -> dict[str, str]:
    """The account facts the bot may use in a reply (read-only; absent facts are left out)."""
    from sales.models import Account

    account = Account.objects.only("name", "attributes").get(pk=account_id)
    found = {"account_name": account.name}
    for name in LOOKUP_ATTRIBUTES:
        value = (account.attributes or {}).get(name)
        if value not in (None, ""):
            found[name] = str(value)
    return found


def handoff_rules() -> list[HandoffRule]:
    """The active handoff routes (``support.handoff``), read once per bot run."""
    return [
        HandoffRule(
            name=r.name,
            group=r.group,
            queue=r.queue,
            intent=r.intent,
            source=r.source,
            priority=r.priority,
            tags=tuple(str(t) for t in r.tags or []),
            order=r.order,
        )
        for r in HandoffRoute.objects.filter(is_active=True)
    ]


def published_articles(intents: list[str]) -> dict[str, Article]:
    """The published article version of each intent that has one, with its fragments (two queries)."""
    articles = Article.objects.filter(intent__in=intents, status=ArticleStatus.PUBLISHED).prefetch_related(
        "fragments"
    )
    return {article.intent: article for article in articles}


def tickets_with_requester_email(*, email: str) -> QuerySet[Ticket]:
    """Tickets whose requester's email is ``email`` (case and surrounding spaces ignored): through
    the blind index when the address is encrypted at rest, else a plain case-insensitive match."""
    address = (email or "").strip()
    if not address:
        return Ticket.objects.none()
    if any(f.name == "requester_email_index" for f in Ticket._meta.get_fields()):
        from security.crypto import blind_index

        return Ticket.objects.filter(requester_email_index=blind_index(address))
    return Ticket.objects.filter(requester_email__iexact=address)


def _opened_tickets() -> QuerySet[Ticket]:
    """Tickets with their opening time; the imported BANKING77 training queries are not support work."""
    return (
        Ticket.objects.exclude(source="banking77")
        .annotate(opened=Coalesce("source_created_at", "created_at"))
        .order_by()
    )


def ticket_facts(*, ranges: Sequence[tuple[date, date]]) -> list[TicketFacts]:
    """What the metrics need of each ticket opened on a day in one of ``ranges`` (first and last day,
    inclusive, in the site's time zone); one query."""
    opened = Q(pk__in=[])
    for first, last in ranges:
        opened |= Q(opened__gte=_midnight(first), opened__lt=_midnight(last + timedelta(days=1)))
    rows = _opened_tickets().filter(opened).values_list(*_FACT_FIELDS)
    return [_facts(row) for row in rows]


def ticket_facts_since(start: datetime) -> tuple[list[TicketFacts], timedelta]:
    """The facts of tickets opened since ``start`` and the follow-up window, in one query (the KPIs)."""
    window = Subquery(SupportSettings.objects.order_by("pk").values("followup_window_hours")[:1])
    rows = list(
        _opened_tickets()
        .filter(Q(opened__gte=start))
        .annotate(window=window)
        .values_list(*_FACT_FIELDS, "window")
    )
    hours = next((row[-1] for row in rows if row[-1] is not None), DEFAULT_FOLLOWUP_HOURS)
    return [_facts(row) for row in rows], timedelta(hours=hours)


DEFAULT_FOLLOWUP_HOURS = 24
_FACT_FIELDS = (
    "opened", "predicted_intent", "intent_label", "escalated_at", "resolved_at", "resolved_by", "followup_at",
    "survey__score",
)  # fmt: skip


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(0, 0)))


def _facts(row: Sequence[Any]) -> TicketFacts:
    opened, predicted, label, escalated_at, resolved_at, resolved_by, followup_at, score = row[:8]
    return TicketFacts(
        opened_on=timezone.localtime(opened).date(),
        intent=predicted or label,
        escalated=escalated_at is not None,
        resolved_at=resolved_at,
        resolved_by=resolved_by,
        handle_seconds=max((resolved_at - opened).total_seconds(), 0.0) if resolved_at else None,
        followup_at=followup_at,
        csat=score,
    )


@dataclass(frozen=True)
class MetricsPage:
    first: date
    last: date
    baseline: tuple[date, date] | None
    window_hours: int
    rows: list[MetricRow]
    intents: list[tuple[str, int, list[str]]]  # intent, tickets, each metric for display
    period: Figures


def support_metrics_page(*, days: int, today: date | None = None) -> MetricsPage:
    """The support metrics over the last ``days`` days against the baseline period (two queries)."""
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    settings_row = SupportSettings.current()
    window = timedelta(hours=settings_row.followup_window_hours)
    baseline = (
        (settings_row.baseline_start, settings_row.baseline_end)
        if settings_row.baseline_start and settings_row.baseline_end
        else None
    )
    facts = ticket_facts(ranges=[(first, today), *([baseline] if baseline else [])])
    in_period = [f for f in facts if first <= f.opened_on <= today]
    period = total(in_period, window)
    before = (
        total([f for f in facts if baseline[0] <= f.opened_on <= baseline[1]], window) if baseline else None
    )
    span = [first + timedelta(days=offset) for offset in range(days)]
    return MetricsPage(
        first=first,
        last=today,
        baseline=baseline,
        window_hours=settings_row.followup_window_hours,
        rows=metric_rows(period=period, baseline=before, daily=by_day(in_period, window), days=span),
        intents=[
            (intent, figures.tickets, figure_cells(figures))
            for intent, figures in by_intent(in_period, window).items()
        ],
        period=period,
    )
