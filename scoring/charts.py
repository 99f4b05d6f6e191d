"""Geometry of the server-rendered SHAP bar chart (pure; the template draws the SVG)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LABEL_WIDTH = 250
CHART_WIDTH = 380
ROW_HEIGHT = 28
BAR_HEIGHT = 18
VALUE_ROOM = 80  # room for '+12 points' beside the longest bar


@dataclass(frozen=True)
class Bar:
    label: str
    value: str
    points: float
    x: float
    width: float
    y: float
    positive: bool
    text_x: float
    anchor: str


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    axis_x: float


def shap_bar_chart(reasons: Sequence[dict[str, Any]]) -> BarChart:
    """Bars left (negative) or right (positive) of a zero axis, scaled to the largest reason."""
    largest = max((abs(float(r["points"])) for r in reasons), default=0.0) or 1.0
    half = CHART_WIDTH / 2 - VALUE_ROOM  # room for the value text beside each bar
    axis = LABEL_WIDTH + CHART_WIDTH / 2
    bars = []
    for i, reason in enumerate(reasons):
        points = float(reason["points"])
        width = max(abs(points) / largest * half, 1.0)
        positive = points >= 0
        x = axis if positive else axis - width
        label = reason["text"].rsplit(":", 1)[0]
        value = reason["text"].rsplit(":", 1)[1].strip() if ":" in reason["text"] else f"{points:+.1f}"
        bars.append(
            Bar(
                label=label,
                value=value,
                points=points,
                x=x,
                width=width,
                y=i * ROW_HEIGHT + 6,
                positive=positive,
                text_x=(x + width + 4) if positive else (x - 4),
                anchor="start" if positive else "end",
            )
        )
    return BarChart(
        bars=bars, width=LABEL_WIDTH + CHART_WIDTH, height=max(len(bars), 1) * ROW_HEIGHT + 8, axis_x=axis
    )
