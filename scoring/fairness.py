"""Does the model treat subgroups alike? Per-group rates and the gaps between them (pure: numpy).

Groups too small to measure reliably are still reported, so people can see them, but they are not
compared: a gap computed on a handful of leads is noise and must not block (or pass) a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from scoring.metrics import TIERS, _check_thresholds, _labels, tier_for

UNKNOWN = "unknown"
# A gap equal to its bound passes; the tolerance stops float noise (0.7 - 0.45) from deciding that.
_GAP_TOLERANCE = 1e-9


@dataclass(frozen=True)
class FairnessBounds:
    """The largest gaps between eligible groups a model may show, and who counts as eligible."""

    max_tpr_gap: float = (
        0.25  # equal-opportunity gap: max minus min true-positive rate across eligible groups
    )
    max_fpr_gap: float = 0.25
    max_mean_score_gap: float = 40.0  # points
    min_group_size: int = 100  # groups smaller than this are reported but not compared
    min_group_positives: int = (
        10  # for TPR comparisons, groups need this many positives (and negatives for FPR)
    )


def _edge_text(edge: float) -> str:
    return f"{edge:g}"


def band_values(values: Sequence[Any], edges: list[float], labels: list[str] | None = None) -> list[str]:
    """Map numbers to band labels; edges ``[30, 45, 60]`` give ``"<30"``, ``"30-45"``, ``"45-60"``, ``"60+"``.

    Each band includes its lower edge (30 is ``"30-45"``). ``labels`` replaces the default names and
    must have ``len(edges) + 1`` entries. None and NaN become ``"unknown"``.
    """
    cut = [float(e) for e in edges]
    if not cut:
        raise ValueError("band edges: at least one edge is needed")
    if not all(math.isfinite(e) for e in cut) or any(lo >= hi for lo, hi in pairwise(cut)):
        raise ValueError(f"band edges: must be finite and strictly increasing, got {edges}")
    if labels is None:
        names = [f"<{_edge_text(cut[0])}"]
        names += [f"{_edge_text(lo)}-{_edge_text(hi)}" for lo, hi in pairwise(cut)]
        names.append(f"{_edge_text(cut[-1])}+")
    else:
        if len(labels) != len(cut) + 1:
            raise ValueError(f"band labels: {len(cut)} edges need {len(cut) + 1} labels, got {len(labels)}")
        names = [str(label) for label in labels]
    result = []
    for value in values:
        number = None if value is None else float(value)
        if number is None or math.isnan(number):
            result.append(UNKNOWN)
        else:
            result.append(names[int(np.searchsorted(cut, number, side="right"))])
    return result


def _gap(
    attribute: str, name: str, values: dict[str, float], bound: float, unit: str, digits: int
) -> tuple[float | None, str | None]:
    """Max minus min over ``values`` (group -> value) and a violation message if it exceeds ``bound``."""
    if len(values) < 2:
        return None, None
    # Ties resolve to the first group by name, so the message is stable.
    low = min(values, key=lambda g: values[g])
    high = max(values, key=lambda g: values[g])
    gap = float(values[high] - values[low])
    if gap <= bound + _GAP_TOLERANCE:
        return gap, None
    message = (
        f"{attribute}: {name} gap {gap:.{digits}f}{unit} between '{low}' ({values[low]:.{digits}f}) "
        f"and '{high}' ({values[high]:.{digits}f}) exceeds {bound:.{digits}f}"
    )
    return gap, message


def subgroup_report(
    attribute: str,
    groups: Sequence[str],
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    positive_threshold: float,
    thresholds: dict[str, float],
    bounds: FairnessBounds = FairnessBounds(),
) -> dict[str, Any]:
    """Per-group size, mean score, tier shares, TPR and FPR, and the gaps between eligible groups.

    ``groups`` holds one label per row (None counts as ``"unknown"``). A lead is predicted positive
    when its 0–100 score is >= ``positive_threshold``. Groups of at least
    ``bounds.min_group_size`` rows are eligible; the TPR gap also needs ``min_group_positives``
    positives in a group, the FPR gap as many negatives. ``passed`` is False when any gap exceeds
    its bound; ``violations`` says which, between which groups.
    """
    _check_thresholds(thresholds)
    names = np.array([UNKNOWN if g is None else str(g) for g in groups], dtype=object)
    y = _labels(y_true)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if not names.size == y.size == s.size:
        raise ValueError(
            f"subgroup_report: {names.size} groups, {y.size} labels and {s.size} scores differ in length"
        )
    threshold = float(positive_threshold)
    predicted = s >= threshold
    tiers = tier_for(s, thresholds)

    rows: list[dict[str, Any]] = []
    tprs: dict[str, float] = {}
    fprs: dict[str, float] = {}
    means: dict[str, float] = {}
    for group in sorted(set(names.tolist())):
        member = names == group
        size = int(member.sum())
        positives = int(y[member].sum())
        negatives = size - positives
        tp = int(np.sum(predicted & member & (y == 1)))
        fp = int(np.sum(predicted & member & (y == 0)))
        tpr = tp / positives if positives else None
        fpr = fp / negatives if negatives else None
        mean_score = float(s[member].mean())
        eligible = size >= bounds.min_group_size
        rows.append(
            {
                "group": group,
                "size": size,
                "positives": positives,
                "mean_score": mean_score,
                "tier_shares": {tier: float(np.mean(tiers[member] == tier)) for tier in TIERS},
                "tpr": tpr,
                "fpr": fpr,
                "eligible": eligible,
            }
        )
        if not eligible:
            continue
        means[group] = mean_score
        # A rate over a few cases swings wildly; compare only rates resting on enough of them.
        if tpr is not None and positives >= bounds.min_group_positives:
            tprs[group] = tpr
        if fpr is not None and negatives >= bounds.min_group_positives:
            fprs[group] = fpr

    tpr_gap, tpr_violation = _gap(attribute, "tpr", tprs, bounds.max_tpr_gap, "", 2)
    fpr_gap, fpr_violation = _gap(attribute, "fpr", fprs, bounds.max_fpr_gap, "", 2)
    score_gap, score_violation = _gap(attribute, "mean score", means, bounds.max_mean_score_gap, " points", 1)
    violations = [v for v in (tpr_violation, fpr_violation, score_violation) if v is not None]
    return {
        "attribute": attribute,
        "positive_threshold": threshold,
        "groups": rows,
        "gaps": {"tpr": tpr_gap, "fpr": fpr_gap, "mean_score": score_gap},
        "violations": violations,
        "passed": not violations,
    }
