"""How well a lead model ranks and how honest its probabilities are (pure: numpy/scipy/sklearn).

Everything returned is JSON-ready (plain Python ints, floats, strings and None), because these
dictionaries are stored on model versions and shown in the admin as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score

from scoring.calibration import score_points

TIERS = ("hot", "warm", "cold")
DECILES = 10
# Log loss is unbounded at p = 0 or 1; clipping keeps one confident mistake from making it infinite.
_LOG_LOSS_EPS = 1e-15


def _labels(y_true: ArrayLike) -> np.ndarray:
    """0/1 labels as int64; booleans and 0.0/1.0 are accepted, anything else is an error."""
    y = np.asarray(y_true).ravel()
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError("labels must contain only 0/1 (or booleans)")
    return y.astype(np.int64)


def _check_thresholds(thresholds: Mapping[str, float]) -> tuple[float, float]:
    """Validated ``(hot, warm)`` thresholds: 0 <= warm < hot <= 100."""
    try:
        hot, warm = float(thresholds["hot"]), float(thresholds["warm"])
    except KeyError as missing:
        raise ValueError(f"tier thresholds: {missing} is missing") from None
    if not (math.isfinite(hot) and math.isfinite(warm)):
        raise ValueError(f"tier thresholds: hot ({hot}) and warm ({warm}) must be finite")
    if warm < 0:
        raise ValueError(f"tier thresholds: warm ({warm:g}) must be at least 0")
    if hot > 100:
        raise ValueError(f"tier thresholds: hot ({hot:g}) must be at most 100")
    if not warm < hot:
        raise ValueError(f"tier thresholds: warm ({warm:g}) must be below hot ({hot:g})")
    return hot, warm


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def tier_for(scores: ArrayLike, thresholds: dict[str, float]) -> np.ndarray:
    """Tier per score: ``"hot"`` if score >= hot, ``"warm"`` if >= warm, else ``"cold"`` (array of str)."""
    hot, warm = _check_thresholds(thresholds)
    s = np.asarray(scores, dtype=np.float64)
    return np.where(s >= hot, "hot", np.where(s >= warm, "warm", "cold"))


def roc_auc(y_true: ArrayLike, score: ArrayLike) -> float | None:
    """ROC AUC of ``score`` for ``y_true``; None when only one class is present (AUC is undefined)."""
    y = _labels(y_true)
    s = np.asarray(score, dtype=np.float64).ravel()
    if s.shape != y.shape:
        raise ValueError(f"roc_auc: {y.size} labels but {s.size} scores")
    if y.size == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, s))


def single_feature_auc(values: ArrayLike, y_true: ArrayLike) -> float | None:
    """How well one feature alone ranks the label, whichever the direction: ``max(auc, 1 - auc)``.

    NaN counts as a value below every other (so "missing" can itself leak the label). None when
    only one class is present or the feature is constant.
    """
    y = _labels(y_true)
    v = np.asarray(values, dtype=np.float64).ravel().copy()
    if v.shape != y.shape:
        raise ValueError(f"single_feature_auc: {y.size} labels but {v.size} values")
    if y.size == 0 or y.min() == y.max():
        return None
    missing = np.isnan(v)
    if missing.all():
        return None
    if missing.any():
        v[missing] = np.min(v[~missing]) - 1.0
    # Ranks give the same AUC and tolerate ±inf, which roc_auc_score rejects.
    ranks = rankdata(v)
    if np.ptp(ranks) == 0:
        return None
    auc = float(roc_auc_score(y, ranks))
    return max(auc, 1.0 - auc)


def _calibration_bins(y: np.ndarray, p: np.ndarray, bins: int) -> list[dict[str, Any]]:
    # i / bins is correctly rounded, so 0.7 falls in [0.7, 0.8) and not, through linspace drift, below it.
    edges = np.arange(bins + 1, dtype=np.float64) / bins
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    table = []
    for i in range(bins):
        in_bin = index == i
        count = int(in_bin.sum())
        table.append(
            {
                "bin": i,
                "lower": float(edges[i]),
                "upper": float(edges[i + 1]),
                "count": count,
                "mean_predicted": float(p[in_bin].mean()) if count else None,
                "observed_rate": float(y[in_bin].mean()) if count else None,
            }
        )
    return table


def _lift(y: np.ndarray, p: np.ndarray) -> list[dict[str, Any]]:
    overall = float(y.mean())
    # Stable sort on -p: ties keep input order, so the table is reproducible run to run.
    order = np.argsort(-p, kind="stable")
    table = []
    for decile, rows in enumerate(np.array_split(order, DECILES), start=1):
        count = int(rows.size)
        positives = int(y[rows].sum())
        rate = positives / count if count else None
        table.append(
            {
                "decile": decile,
                "count": count,
                "positives": positives,
                "rate": rate,
                "lift": rate / overall if rate is not None and overall > 0 else None,
            }
        )
    return table


def _confusion(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, Any]:
    predicted = score >= threshold
    actual = y == 1
    tp = int(np.sum(predicted & actual))
    fp = int(np.sum(predicted & ~actual))
    tn = int(np.sum(~predicted & ~actual))
    fn = int(np.sum(~predicted & actual))
    return {
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "precision": _rate(tp, tp + fp),
        "recall": _rate(tp, tp + fn),
    }


def evaluate(
    y_true: ArrayLike, probability: ArrayLike, *, thresholds: dict[str, float], bins: int = 10
) -> dict[str, Any]:
    """Ranking, probability quality, calibration table, lift by decile and tier behaviour on labelled rows.

    Tiers and confusion counts use the 0–100 score (``score_points(probability)``), exactly as leads
    are tiered in production; the lift table orders rows by the unrounded probability.
    """
    y = _labels(y_true)
    p = np.asarray(probability, dtype=np.float64).ravel()
    if p.shape != y.shape:
        raise ValueError(f"evaluate: {y.size} labels but {p.size} probabilities")
    if y.size == 0:
        raise ValueError("evaluate: no rows to evaluate")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("evaluate: probabilities must lie in [0, 1] (NaN is not allowed)")
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"evaluate: bins must be a positive integer, not {bins!r}")
    hot, warm = _check_thresholds(thresholds)
    n = int(y.size)
    positives = int(y.sum())
    two_classes = 0 < positives < n
    clipped = np.clip(p, _LOG_LOSS_EPS, 1.0 - _LOG_LOSS_EPS)
    score = score_points(p)
    tiers = tier_for(score, thresholds)
    return {
        "n": n,
        "positives": positives,
        "positive_rate": positives / n,
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else None,
        "pr_auc": float(average_precision_score(y, p)) if two_classes else None,
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped))),
        "brier": float(np.mean((p - y) ** 2)),
        "calibration": _calibration_bins(y, p, int(bins)),
        "lift": _lift(y, p),
        "confusion": {"hot": _confusion(y, score, hot), "warm": _confusion(y, score, warm)},
        "tier_shares": {tier: float(np.mean(tiers == tier)) for tier in TIERS},
    }
