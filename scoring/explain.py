"""Per-lead explanations in score points and plain words (pure: numpy only).

XGBoost's exact tree SHAP contributions are additive in the model's margin (log-odds). People
read a 0–100 score, so each lead's contributions are rescaled to *points*: the lead's score minus
the score of an average lead is shared among the features in proportion to their contributions.
The points therefore add up exactly to "why this lead scores differently from an average one".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scoring.features import FeatureDef, decode

# Below this total margin, proportional sharing is unstable; fall back to the local slope.
_EPSILON = 1e-6


def points_from_contributions(
    contributions: np.ndarray, scores: np.ndarray, base_score: float | np.ndarray, slope: np.ndarray
) -> np.ndarray:
    """Rescale margin contributions (n × features, bias column excluded) to score points.

    ``scores`` are the leads' 0–100 scores (unrounded), ``base_score`` the score of the bias
    alone, ``slope`` d(score)/d(margin) at each lead (used only where contributions cancel out).
    """
    total = contributions.sum(axis=1)
    difference = scores - base_score
    safe = np.abs(total) > _EPSILON
    factor = np.where(safe, difference / np.where(safe, total, 1.0), slope)
    return contributions * factor[:, None]


def format_points(points: float) -> str:
    magnitude = abs(points)
    text = f"{magnitude:.1f}" if magnitude < 0.95 else f"{magnitude:.0f}"
    sign = "+" if points >= 0 or text == "0.0" else "−"
    return f"{sign}{text} point{'' if text == '1' else 's'}"


def format_value(feature: FeatureDef, value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, float):
        if feature.type == "event_count" or value.is_integer():
            text = f"{value:.0f}"
        elif abs(value) >= 1000:
            text = f"{value:,.0f}"
        else:
            text = f"{value:.3g}"
        return f"{text} {feature.unit}".strip()
    return str(value)


def reason_text(feature: FeatureDef, value: Any, points: float) -> str:
    """E.g. ``Company size 201-1000: +12 points`` or ``Age 56: −3 points``."""
    return f"{feature.display} {format_value(feature, value)}: {format_points(points)}"


def top_reasons(
    points: np.ndarray,
    matrix: np.ndarray,
    features: Sequence[FeatureDef],
    vocabulary: Mapping[str, Sequence[str]],
    *,
    top: int = 5,
) -> list[list[dict[str, Any]]]:
    """The ``top`` reasons per lead by absolute points, largest first, each with its words."""
    k = min(top, points.shape[1])
    order = np.argsort(-np.abs(points), axis=1, kind="stable")[:, :k]
    chosen_points = np.take_along_axis(points, order, axis=1)
    chosen_values = np.take_along_axis(matrix, order, axis=1)
    # Values and point figures repeat across leads: word each distinct one once.
    value_words: dict[tuple[int, float], tuple[Any, str]] = {}
    point_words: dict[float, str] = {}
    reasons: list[list[dict[str, Any]]] = []
    for columns, row_points, row_values in zip(
        order.tolist(), chosen_points.tolist(), chosen_values.tolist(), strict=True
    ):
        lead_reasons = []
        for column, value_points, coded in zip(columns, row_points, row_values, strict=True):
            if value_points == 0.0:
                continue
            feature = features[column]
            key = (column, coded)
            worded = value_words.get(key)
            if worded is None:
                value = decode(feature, coded, vocabulary)
                worded = value_words[key] = (value, f"{feature.display} {format_value(feature, value)}")
            rounded = round(value_points, 2)
            points_text = point_words.get(rounded)
            if points_text is None:
                points_text = point_words[rounded] = format_points(rounded)
            lead_reasons.append(
                {
                    "feature": feature.name,
                    "value": worded[0],
                    "points": rounded,
                    "text": f"{worded[1]}: {points_text}",
                }
            )
        reasons.append(lead_reasons)
    return reasons
