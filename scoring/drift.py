"""Has the data a model sees in production moved away from what it was trained on? (pure: numpy + scipy).

At training time each feature gets a *reference*: a small JSON-serialisable summary of its
distribution (quantile bins and their shares, a missing share, and a sample of raw values). Later,
recent values are binned the same way and compared with it:

* the population stability index (PSI) over the bins drives the level (ok / warn / alert), because
  it measures the size of the move and does not grow with the sample the way a p-value does;
* a two-sample KS test (numeric) or a chi-squared goodness-of-fit test (categorical) is reported
  alongside, for people who want a significance figure.

Missing values are a bin of their own in both kinds of feature: a source that stops filling a
field is drift the model feels, so it must show up in the PSI.

Every float in a reference or a result is a plain Python float and never NaN or inf, so the dicts
can go straight into a JSONField (PostgreSQL rejects NaN in JSON).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from scipy import stats

MISSING = "__missing__"
OTHER = "__other__"
KINDS = ("numeric", "categorical")
LEVELS = ("ok", "warn", "alert", "insufficient")

# Share given to a bin that is empty on one side, so PSI and chi-squared stay finite. Small
# enough that a bin going from empty to a real share still produces a large PSI.
_EPSILON = 1e-4
# How many of the most-moved bins/categories a result's detail lists.
_TOP_MOVED = 3
# How many unseen recent categories a categorical result names in its detail.
_TOP_UNSEEN = 5
# Shares in `detail` are for people to read; six decimals is plenty and keeps the JSON small.
_DETAIL_DECIMALS = 6


@dataclass(frozen=True)
class DriftThresholds:
    psi_warn: float = 0.1
    psi_alert: float = 0.25
    p_value: float = 0.01  # KS / chi-squared significance; reported, not used for the level
    min_sample: int = 50  # below this many recent values -> level "insufficient"


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # "numeric" | "categorical"
    psi: float
    statistic: float  # KS D for numeric, chi-squared statistic for categorical
    p_value: float
    level: str  # "ok" | "warn" | "alert" | "insufficient"
    reference_size: int
    recent_size: int
    detail: dict  # per-bin/category expected and actual shares, plus the top moved ones

    def as_dict(self) -> dict:
        """A JSON-serialisable copy of the result (the detail is copied, not shared)."""
        return asdict(self)


# --- input coercion ---------------------------------------------------------------------------


def _to_float_array(values: Any) -> np.ndarray:
    """1-D float array with NaN for every missing value (None, NaN, +-inf)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        array = values.astype(float)
    else:
        array = np.array([np.nan if v is None else v for v in values], dtype=float)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of numbers, got shape {array.shape}")
    # An infinite feature value is a broken value, not a very large one; counting it as missing
    # also keeps the sample, mean and std finite (and therefore valid JSON).
    array[~np.isfinite(array)] = np.nan
    return array


def _category(value: Any) -> str:
    if value is None or (isinstance(value, str) and value == ""):
        return MISSING
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return MISSING
    # Categories are compared as strings: JSON object keys are strings, so a reference that has
    # been through a JSONField could not tell 1 from "1" anyway.
    return str(value)


def _to_categories(values: Iterable[Any]) -> list[str]:
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of categories, got shape {values.shape}")
    return [_category(v) for v in values]


def _round(x: float) -> float:
    return round(float(x), _DETAIL_DECIMALS)


# --- PSI and levels ---------------------------------------------------------------------------


def _floored(shares: np.ndarray, epsilon: float) -> np.ndarray:
    floored = np.maximum(shares, epsilon)
    return floored / floored.sum()


def _psi_terms(expected: np.ndarray, actual: np.ndarray, epsilon: float) -> np.ndarray:
    e = _floored(expected, epsilon)
    a = _floored(actual, epsilon)
    # Each term is >= 0 ((a - e) and ln(a / e) share a sign), so clipping only removes rounding dust.
    return np.maximum((a - e) * np.log(a / e), 0.0)


def _share_vector(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    vector = np.asarray(values, dtype=float)
    if vector.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D vector of shares, got shape {vector.shape}")
    if not np.all(np.isfinite(vector)) or np.any(vector < 0):
        raise ValueError(f"{name}: shares must be finite and non-negative")
    return vector


def psi(
    expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray, *, epsilon: float = _EPSILON
) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` of two aligned share vectors.

    Shares below ``epsilon`` are raised to it and each vector renormalised, so an empty bin on either
    side gives a large but finite value. The result is a finite float >= 0, exactly 0.0 for identical
    vectors, and symmetric in its arguments. Vectors of counts work too (they are normalised).
    Raises ValueError for vectors of different lengths or with negative / non-finite entries.
    """
    e = _share_vector(expected, "expected")
    a = _share_vector(actual, "actual")
    if e.shape != a.shape:
        raise ValueError(f"expected and actual must be aligned, got {e.size} and {a.size} shares")
    if e.size == 0:
        return 0.0
    return float(_psi_terms(e, a, epsilon).sum())


def drift_level(psi_value: float, recent_size: int, thresholds: DriftThresholds = DriftThresholds()) -> str:
    """The level for a PSI: "insufficient" below ``min_sample`` recent values, else by PSI.

    "alert" if ``psi_value >= psi_alert``, "warn" if ``psi_value >= psi_warn``, else "ok" (bounds inclusive).
    """
    if recent_size < thresholds.min_sample:
        return "insufficient"
    if psi_value >= thresholds.psi_alert:
        return "alert"
    if psi_value >= thresholds.psi_warn:
        return "warn"
    return "ok"


def _top_moved(labels: Sequence[str], expected: np.ndarray, actual: np.ndarray, terms: np.ndarray) -> list:
    # Stable sort so equal contributions keep bin/category order: the detail is deterministic.
    order = np.argsort(-terms, kind="stable")
    return [
        {
            "label": labels[i],
            "expected": _round(expected[i]),
            "actual": _round(actual[i]),
            "psi": _round(terms[i]),
        }
        for i in order[:_TOP_MOVED]
        if terms[i] > 0
    ]


# --- numeric features -------------------------------------------------------------------------


def _bin_shares(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, int]:
    """Shares of ``len(edges) + 1`` bins plus a final missing bin, over all values; and the count."""
    present = values[~np.isnan(values)]
    # side="right": bin i holds edges[i-1] <= x < edges[i], so a heavily tied value that is itself an
    # edge lands in one bin, the one it opens.
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=edges.size + 1)
    counts = np.append(counts, values.size - present.size).astype(float)
    return (counts / values.size if values.size else counts), int(values.size)


def _numeric_summary(values: np.ndarray, edges: np.ndarray, sample_size: int, seed: int) -> dict:
    if values.size == 0:
        raise ValueError("a reference needs at least one value")
    shares, size = _bin_shares(values, edges)
    present = values[~np.isnan(values)]
    rng = np.random.default_rng(seed)
    take = min(max(sample_size, 0), present.size)
    sample = np.sort(rng.choice(present, size=take, replace=False)) if take else np.empty(0)
    return {
        "kind": "numeric",
        "edges": [float(x) for x in edges],
        "shares": [float(x) for x in shares],
        "missing_share": float(shares[-1]),
        "size": size,
        "sample": [float(x) for x in sample],
        # An all-missing reference has no mean or std; 0.0 keeps the dict valid JSON.
        "mean": float(present.mean()) if present.size else 0.0,
        "std": float(present.std()) if present.size else 0.0,
    }


def numeric_reference(values: Any, *, bins: int = 10, sample_size: int = 2000, seed: int = 0) -> dict:
    """Summary of a numeric feature's training distribution, for :func:`numeric_drift`.

    Returns ``{"kind": "numeric", "edges", "shares", "missing_share", "size", "sample", "mean", "std"}``:
    ``edges`` are the strictly increasing interior quantile cut points (ties deduplicated, so there may
    be fewer than ``bins - 1``); ``shares`` has one share per bin (``len(edges) + 1``) plus a final one
    for missing values, over all values, summing to 1; ``sample`` is up to ``sample_size`` present
    values drawn without replacement with ``seed`` (sorted). None, NaN and +-inf count as missing.
    Raises ValueError for an empty input or ``bins < 1``.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    array = _to_float_array(values)
    present = array[~np.isnan(array)]
    if present.size:
        # np.unique both sorts and deduplicates: a value held by many rows (a constant 999, a zero
        # default) would otherwise repeat as an edge and leave empty, meaningless bins.
        edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    else:
        edges = np.empty(0)
    return _numeric_summary(array, edges, sample_size, seed)


def score_reference(scores: Any, *, bins: int = 10) -> dict:
    """Like :func:`numeric_reference` for 0-100 scores, but with fixed equal-width bins of ``100 / bins``.

    Fixed bins (edges ``[10, 20, ..., 90]`` for 10 bins) keep score drift readable as "share of leads
    scoring 80-90", and comparable between model versions.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    edges = np.linspace(0.0, 100.0, bins + 1)[1:-1]
    return _numeric_summary(_to_float_array(scores), edges, sample_size=2000, seed=0)


def _bin_labels(edges: Sequence[float]) -> list[str]:
    if not edges:
        return ["all", "missing"]
    labels = [f"< {edges[0]:.4g}"]
    labels += [f"[{lo:.4g}, {hi:.4g})" for lo, hi in pairwise(edges)]
    labels += [f">= {edges[-1]:.4g}", "missing"]
    return labels


def _check_reference(reference: Mapping[str, Any], kind: str) -> None:
    if reference.get("kind") != kind:
        raise ValueError(f"expected a {kind} reference, got kind {reference.get('kind')!r}")


def numeric_drift(
    feature: str, reference: Mapping[str, Any], recent: Any, thresholds: DriftThresholds = DriftThresholds()
) -> FeatureDrift:
    """Drift of a numeric feature's ``recent`` values from its :func:`numeric_reference` (or score reference).

    PSI compares the reference bin shares (missing included) with those of ``recent`` binned on the
    reference edges; the level comes from PSI and the recent size via :func:`drift_level`. The
    statistic and p-value are a two-sample KS test of the reference sample against the present recent
    values (0 and 1 when either side is empty). With no recent values at all, PSI is 0.0.
    """
    _check_reference(reference, "numeric")
    edges = np.asarray(reference["edges"], dtype=float)
    expected = np.asarray(reference["shares"], dtype=float)
    if expected.size != edges.size + 2:
        raise ValueError(f"reference for {feature!r}: {edges.size} edges need {edges.size + 2} shares")
    values = _to_float_array(recent)
    actual, recent_size = _bin_shares(values, edges)
    # No recent values is "nothing to compare", not a move of the whole distribution.
    terms = _psi_terms(expected, actual, _EPSILON) if recent_size else np.zeros(expected.size)
    psi_value = float(terms.sum())

    present = values[~np.isnan(values)]
    sample = np.asarray(reference.get("sample", []), dtype=float)
    if present.size and sample.size:
        ks = stats.ks_2samp(sample, present)
        statistic, p_value = float(ks.statistic), float(ks.pvalue)
    else:
        statistic, p_value = 0.0, 1.0

    labels = _bin_labels([float(x) for x in edges])
    detail = {
        "bins": [
            {"label": label, "expected": _round(e), "actual": _round(a)}
            for label, e, a in zip(labels, expected, actual, strict=True)
        ],
        "top_moved": _top_moved(labels, expected, actual, terms),
        "reference_missing_share": _round(expected[-1]),
        "recent_missing_share": _round(actual[-1]),
        "reference_mean": _round(reference.get("mean", 0.0)),
        "reference_std": _round(reference.get("std", 0.0)),
        "recent_mean": _round(present.mean()) if present.size else 0.0,
        "recent_std": _round(present.std()) if present.size else 0.0,
        "significant": bool(p_value < thresholds.p_value),
    }
    return FeatureDrift(
        feature=feature,
        kind="numeric",
        psi=psi_value,
        statistic=statistic,
        p_value=p_value,
        level=drift_level(psi_value, recent_size, thresholds),
        reference_size=int(reference.get("size", 0)),
        recent_size=recent_size,
        detail=detail,
    )


def score_drift(
    reference: Mapping[str, Any], recent: Any, thresholds: DriftThresholds = DriftThresholds()
) -> FeatureDrift:
    """Drift of recent 0-100 scores from a :func:`score_reference`; :func:`numeric_drift` named "score"."""
    return numeric_drift("score", reference, recent, thresholds)


# --- categorical features ---------------------------------------------------------------------


def categorical_reference(values: Iterable[Any], *, max_categories: int = 50) -> dict:
    """Summary of a categorical feature's training distribution, for :func:`categorical_drift`.

    Returns ``{"kind": "categorical", "shares": {category: share}, "size": int}`` with shares over all
    values summing to 1, most frequent first. Categories are compared as strings; None, NaN and ""
    share the ``MISSING`` category, which is always kept apart. Categories beyond the
    ``max_categories`` most frequent are pooled into ``"__other__"``. Raises ValueError for no values.
    """
    labels = _to_categories(values)
    if not labels:
        raise ValueError("a reference needs at least one value")
    counts = Counter(labels)
    missing = counts.pop(MISSING, 0)
    # Ties broken by name so the same data always gives the same reference.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = ranked[: max(max_categories, 0)]
    pooled = sum(count for _, count in ranked[len(kept) :])
    size = len(labels)
    shares = {category: count / size for category, count in kept}
    if pooled:
        shares[OTHER] = shares.get(OTHER, 0.0) + pooled / size
    if missing:
        shares[MISSING] = missing / size
    return {"kind": "categorical", "shares": {k: float(v) for k, v in shares.items()}, "size": size}


def categorical_drift(
    feature: str,
    reference: Mapping[str, Any],
    recent: Iterable[Any],
    thresholds: DriftThresholds = DriftThresholds(),
) -> FeatureDrift:
    """Drift of a categorical feature's ``recent`` values from its :func:`categorical_reference`.

    Recent categories the reference does not know are counted as ``"__other__"`` (and missing values
    as ``MISSING``), so a category unseen at training time that takes much of the recent mass yields
    a high PSI; the detail names the biggest unseen ones. The statistic and p-value are a chi-squared
    goodness-of-fit test of the recent counts against the reference shares (floored, scaled to the
    recent total); 0 and 1 when there are fewer than two categories or no recent values.
    """
    _check_reference(reference, "categorical")
    reference_shares: Mapping[str, float] = reference["shares"]
    labels = _to_categories(recent)
    recent_size = len(labels)

    unseen: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for label in labels:
        if label in reference_shares or label == MISSING:
            counts[label] += 1
        else:
            unseen[label] += 1
            counts[OTHER] += 1

    categories = list(reference_shares)
    categories += [c for c in (OTHER, MISSING) if counts[c] and c not in reference_shares]
    expected = np.array([float(reference_shares.get(c, 0.0)) for c in categories])
    observed = np.array([float(counts[c]) for c in categories])
    actual = observed / recent_size if recent_size else observed
    terms = _psi_terms(expected, actual, _EPSILON) if recent_size else np.zeros(len(categories))
    psi_value = float(terms.sum())

    if recent_size and len(categories) >= 2:
        # chisquare needs the expected counts to add up to the observed total; flooring keeps a
        # category the reference never saw from dividing by zero.
        expected_counts = _floored(expected, _EPSILON) * recent_size
        chi = stats.chisquare(observed, expected_counts)
        statistic, p_value = float(chi.statistic), float(chi.pvalue)
    else:
        statistic, p_value = 0.0, 1.0

    detail = {
        "categories": [
            {"label": c, "expected": _round(e), "actual": _round(a)}
            for c, e, a in zip(categories, expected, actual, strict=True)
        ],
        "top_moved": _top_moved(categories, expected, actual, terms),
        "unseen": [
            {"label": label, "actual": _round(count / recent_size)}
            for label, count in sorted(unseen.items(), key=lambda item: (-item[1], item[0]))[:_TOP_UNSEEN]
        ],
        "significant": bool(p_value < thresholds.p_value),
    }
    return FeatureDrift(
        feature=feature,
        kind="categorical",
        psi=psi_value,
        statistic=statistic,
        p_value=p_value,
        level=drift_level(psi_value, recent_size, thresholds),
        reference_size=int(reference.get("size", 0)),
        recent_size=recent_size,
        detail=detail,
    )
