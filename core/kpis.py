"""KPI maths: daily rates, anomaly flags and SLO error budgets, plus a sparkline's geometry; and
what a KPI is (``KpiDef``: a daily series read by one function). Pure: the operations dashboard
(``operations.kpi_series``) and the support metrics page both draw with it.

- **Anomalies** use a robust z-score: each day against the median and the MAD (scaled by 1.4826
  to match a standard deviation under normality) of the ``lookback`` days before it, so one bad day
  does not hide the next; a day is flagged when |z| ≥ ``threshold`` (3.5 by default, Iglewicz and
  Hoaglin's cut-off). Days with too little data (fewer than ``min_count`` in the denominator) are
  neither judged nor used as history.
- **SLOs**: over a window, attainment = good / total; the error budget is ``1 - objective``; the
  burn rate is the observed error share over the budget (1.0 spends the budget exactly over the
  window; above 1 it runs out early), and the budget left is ``1 - burn``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

MAD_TO_SIGMA = 1.4826

#: A KPI's daily figures: ``{day: (numerator, denominator)}``.
Series = dict[date, tuple[float, float]]


@dataclass(frozen=True)
class KpiDef:
    """One KPI of the dashboard: ``read(start)`` gives its series for the days since ``start``."""

    name: str
    label: str
    description: str
    read: Callable[[datetime], Series]
    higher_is_better: bool = True
    unit: str = "%"  # "%" for rates, "s" for durations, "" for plain numbers


@dataclass(frozen=True)
class Day:
    day: date
    numerator: float
    denominator: float

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class Point:
    day: date
    value: float | None
    n: float
    z: float | None
    anomaly: bool


def robust_z(history: Sequence[float], value: float) -> float | None:
    """z of ``value`` against ``history`` by median and MAD; None with fewer than 5 points.
    With no spread at all, any change is infinitely unusual (±inf), no change is 0."""
    if len(history) < 5:
        return None
    median = statistics.median(history)
    mad = statistics.median(abs(x - median) for x in history) * MAD_TO_SIGMA
    if mad == 0:
        return 0.0 if value == median else float("inf") if value > median else float("-inf")
    return (value - median) / mad


def flag_anomalies(
    days: Sequence[Day], *, lookback: int = 14, threshold: float = 3.5, min_count: float = 5
) -> list[Point]:
    """Each day with its value, robust z-score against the days before it, and the flag."""
    points: list[Point] = []
    history: list[float] = []
    for d in days:
        value = d.value if d.denominator >= min_count else None
        z = robust_z(history[-lookback:], value) if value is not None else None
        points.append(Point(d.day, value, d.denominator, z, z is not None and abs(z) >= threshold))
        if value is not None:
            history.append(value)
    return points


@dataclass(frozen=True)
class Budget:
    objective: float
    good: float
    total: float
    attainment: float | None
    burn_rate: float | None
    budget_left: float | None

    @property
    def met(self) -> bool | None:
        return None if self.attainment is None else self.attainment >= self.objective


def slo_budget(*, good: float, total: float, objective: float) -> Budget:
    if not 0 < objective < 1:
        raise ValueError(f"objective must be between 0 and 1 (exclusive), got {objective}")
    if total <= 0:
        return Budget(objective, good, total, None, None, None)
    attainment = good / total
    burn = (1 - attainment) / (1 - objective)
    return Budget(objective, good, total, attainment, burn, 1 - burn)


@dataclass(frozen=True)
class Spark:
    """A polyline and anomaly dots for an inline SVG of ``width`` × ``height``."""

    width: int
    height: int
    points: str
    dots: list[tuple[float, float]]


def sparkline(points: Sequence[Point], *, width: int = 240, height: int = 48, pad: int = 4) -> Spark:
    values = [p.value for p in points if p.value is not None]
    if not values:
        return Spark(width, height, "", [])
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    coords, dots = [], []
    for i, p in enumerate(points):
        if p.value is None:
            continue
        x = pad + i * step
        y = height - pad - (p.value - low) / span * (height - 2 * pad)
        coords.append(f"{x:.1f},{y:.1f}")
        if p.anomaly:
            dots.append((round(x, 1), round(y, 1)))
    return Spark(width, height, " ".join(coords), dots)
