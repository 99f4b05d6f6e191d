"""The support metrics as KPIs of the operations dashboard (``operations.kpi_series`` lists them).

Each is one query: the tickets opened since the dashboard's start, grouped by the day they were
opened (``support.metrics`` says what each figure counts).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.kpis import KpiDef, Series
from support.metrics import METRICS, Figures, by_day
from support.selectors import ticket_facts_since

DESCRIPTIONS = {
    "containment": "Share of resolved tickets the support bot resolved without a person, by the day opened.",
    "fcr": "Share of resolved tickets with no requester follow-up within the window, by the day opened.",
    "csat": "Share of survey answers of 4 or 5 (of 5), by the day the ticket was opened.",
    "escalation_rate": "Share of tickets handed off to a person, by the day opened.",
    "aht_bot": "Mean time from opening to resolution of tickets the bot resolved.",
    "aht_human": "Mean time from opening to resolution of tickets a person resolved.",
}


def _reader(pick: Callable[[Figures], tuple[float, float]]) -> Callable[[datetime], Series]:
    def read(start: datetime) -> Series:
        facts, window = ticket_facts_since(start)
        return {day: pick(figures) for day, figures in by_day(facts, window).items()}

    return read


SUPPORT_KPIS = [
    KpiDef(f"support_{name}", f"Support: {label}", DESCRIPTIONS[name], _reader(pick), higher, unit)
    for name, label, pick, higher, unit in METRICS
]
