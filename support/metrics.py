"""The support metrics, pure (no ORM): containment, first-contact resolution, CSAT, escalation rate and
average handle time, for any set of tickets, by intent and by day.

Every ticket counts on the day it was opened (so one day's figures describe one cohort of tickets):

- **containment**: of the resolved tickets, the share the bot resolved without a person (resolved by
  the bot and never escalated);
- **first-contact resolution (FCR)**: of the resolved tickets, the share with no message from the
  requester within the follow-up window after the resolution (24 h unless set otherwise);
- **escalation rate**: of all tickets, the share handed to a person;
- **CSAT**: of the survey answers (1–5), the share of 4 or 5;
- **average handle time (AHT)**: mean time from opening to resolution, separately for tickets the
  bot resolved and those a person resolved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.kpis import Point, Spark, sparkline

UNCLASSIFIED = "(unclassified)"
SATISFIED = 4  # a CSAT answer of 4 or 5 counts as satisfied


@dataclass(frozen=True)
class TicketFacts:
    opened_on: date
    intent: str
    escalated: bool
    resolved_at: datetime | None
    resolved_by: str  # "bot", "human" or ""
    handle_seconds: float | None  # opening to resolution
    followup_at: datetime | None
    csat: int | None


@dataclass
class Figures:
    tickets: int = 0
    resolved: int = 0
    contained: int = 0
    first_contact: int = 0
    escalated: int = 0
    surveys: int = 0
    satisfied: int = 0
    bot_resolved: int = 0
    bot_seconds: float = 0.0
    human_resolved: int = 0
    human_seconds: float = 0.0

    def add(self, ticket: TicketFacts, window: timedelta) -> None:
        self.tickets += 1
        self.escalated += ticket.escalated
        if ticket.csat is not None:
            self.surveys += 1
            self.satisfied += ticket.csat >= SATISFIED
        if ticket.resolved_at is None:
            return
        self.resolved += 1
        self.contained += ticket.resolved_by == "bot" and not ticket.escalated
        self.first_contact += ticket.followup_at is None or ticket.followup_at > ticket.resolved_at + window
        if ticket.handle_seconds is not None:
            if ticket.resolved_by == "bot":
                self.bot_resolved += 1
                self.bot_seconds += ticket.handle_seconds
            elif ticket.resolved_by == "human":
                self.human_resolved += 1
                self.human_seconds += ticket.handle_seconds

    def value(self, name: str) -> float | None:
        """One metric's figure (``METRICS`` names it); None when there is nothing to count."""
        return _share(*PICK[name](self))


#: (name, label, how to read it from Figures as (numerator, denominator), higher is better, unit)
METRICS: list[tuple[str, str, Callable[[Figures], tuple[float, float]], bool, str]] = [
    ("containment", "Containment", lambda f: (f.contained, f.resolved), True, "%"),
    ("fcr", "First-contact resolution", lambda f: (f.first_contact, f.resolved), True, "%"),
    ("csat", "CSAT", lambda f: (f.satisfied, f.surveys), True, "%"),
    ("escalation_rate", "Escalation rate", lambda f: (f.escalated, f.tickets), False, "%"),
    ("aht_bot", "Handle time, bot", lambda f: (f.bot_seconds, f.bot_resolved), False, "s"),
    ("aht_human", "Handle time, human", lambda f: (f.human_seconds, f.human_resolved), False, "s"),
]


PICK = {name: pick for name, _, pick, _, _ in METRICS}


def _share(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def total(tickets: Iterable[TicketFacts], window: timedelta) -> Figures:
    figures = Figures()
    for ticket in tickets:
        figures.add(ticket, window)
    return figures


def by_intent(tickets: Iterable[TicketFacts], window: timedelta) -> dict[str, Figures]:
    groups: dict[str, Figures] = {}
    for ticket in tickets:
        groups.setdefault(ticket.intent or UNCLASSIFIED, Figures()).add(ticket, window)
    return dict(sorted(groups.items(), key=lambda item: (-item[1].tickets, item[0])))


def by_day(tickets: Iterable[TicketFacts], window: timedelta) -> dict[date, Figures]:
    groups: dict[date, Figures] = {}
    for ticket in tickets:
        groups.setdefault(ticket.opened_on, Figures()).add(ticket, window)
    return dict(sorted(groups.items()))


@dataclass(frozen=True)
class MetricRow:
    """One metric on the page: the period's figure, the baseline's, and the period's daily trend."""

    name: str
    label: str
    value: str
    baseline: str
    change: str
    higher_is_better: bool
    spark: Spark
    n: float


def display(value: float | None, unit: str) -> str:
    """A figure for people: a rate in percent, a duration in hours or minutes, — when unknown."""
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.1%}"
    hours = value / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{value / 60:.0f} min"


def _change(value: float | None, baseline: float | None, unit: str) -> str:
    if value is None or baseline is None:
        return "—"
    if unit == "%":
        return f"{(value - baseline) * 100:+.1f} pts"
    return f"{(value - baseline) / 3600:+.1f} h"


def metric_rows(
    *, period: Figures, baseline: Figures | None, daily: dict[date, Figures], days: list[date]
) -> list[MetricRow]:
    """The page's rows: each metric over the period and the baseline, with a sparkline of the period."""
    rows = []
    for name, label, pick, higher, unit in METRICS:
        now = _share(*pick(period))
        before = _share(*pick(baseline)) if baseline is not None else None
        points = []
        for day in days:
            numerator, denominator = pick(daily[day]) if day in daily else (0.0, 0.0)
            points.append(Point(day, _share(numerator, denominator), denominator, None, False))
        rows.append(
            MetricRow(
                name=name,
                label=label,
                value=display(now, unit),
                baseline=display(before, unit) if baseline is not None else "no baseline set",
                change=_change(now, before, unit),
                higher_is_better=higher,
                spark=sparkline(points),
                n=pick(period)[1],
            )
        )
    return rows


def figure_cells(figures: Figures) -> list[str]:
    """Each metric of ``figures`` for display, in ``METRICS`` order."""
    return [display(_share(*pick(figures)), unit) for _, _, pick, _, unit in METRICS]
