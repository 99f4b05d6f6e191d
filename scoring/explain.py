"""Per-lead explanations in score points and plain words (pure: numpy only).

XGBoost's exact tree SHAP contributions are additive in the model's margin (log-odds). People
read a 0–100 score, so each lead's contributions are rescaled to *points*: the lead's score minus
the score of an average lead is shared among the features in proportion to their contributions.
The points therefore add up exactly to "why this lead scores differently from an average one".
"""

from __future__ import annotations

import json
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
    """The ``top`` reasons per lead by absolute points, largest first, each with its words.

    Reasons worth zero points are left out; points are rounded to hundredths (half to even), and
    the words say the rounded figure.
    """
    return [json.loads(row) for row in top_reasons_json(points, matrix, features, vocabulary, top=top)]


def top_reasons_json(
    points: np.ndarray,
    matrix: np.ndarray,
    features: Sequence[FeatureDef],
    vocabulary: Mapping[str, Sequence[str]],
    *,
    top: int = 5,
) -> list[str]:
    """``top_reasons`` as one JSON array per lead, ready to store (the hot path of scoring).

    A reason's JSON is two pieces that repeat across leads: the feature, its value and the start
    of the words, once per distinct (feature, value); the end of the words and the points, once
    per distinct rounded figure. numpy joins the pieces for all leads at once.
    """
    rows, k = points.shape[0], min(top, points.shape[1])
    if rows == 0:
        return []
    if k == 0:
        return ["[]"] * rows
    order = np.argsort(-np.abs(points), axis=1, kind="stable")[:, :k]
    chosen_points = np.take_along_axis(points, order, axis=1)
    chosen_values = np.take_along_axis(matrix, order, axis=1)

    # '{"feature": …, "value": …, "text": "<display> <value>: ' per distinct (feature, value).
    heads = np.empty(order.shape, dtype=object)
    for column in np.unique(order).tolist():
        where = order == column
        uniques, inverse = np.unique(chosen_values[where], return_inverse=True)
        feature = features[column]
        pieces = []
        for coded in uniques.tolist():
            value = decode(feature, coded, vocabulary)
            words = _escaped(f"{feature.display} {format_value(feature, value)}: ")
            pieces.append(
                f'{{"feature": {json.dumps(feature.name)}, "value": {json.dumps(value)}, "text": "{words}'
            )
        heads[where] = np.array(pieces, dtype=object)[inverse.ravel()]

    # '<points in words>", "points": <number>}' per distinct figure, in whole hundredths.
    hundredths = np.rint(chosen_points * 100.0).astype(np.int64)
    figures, inverse = np.unique(hundredths, return_inverse=True)
    tails = np.array(
        [f'{_escaped(format_points(h / 100))}", "points": {h / 100!r}}}' for h in figures.tolist()],
        dtype=object,
    )[inverse.ravel()].reshape(order.shape)

    reasons = heads + tails
    zero = chosen_points == 0.0
    if zero.any():
        reasons[zero] = None
        return ["[" + ", ".join(r for r in row if r is not None) + "]" for row in reasons.tolist()]
    return ["[" + ", ".join(row) + "]" for row in reasons.tolist()]


def _escaped(text: str) -> str:
    """``text`` as it appears inside a JSON string (without the quotes)."""
    return json.dumps(text)[1:-1]
