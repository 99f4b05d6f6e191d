"""Platt scaling of a model's margin into a probability, and the 0–100 score people read (pure: numpy/scipy).

Calibration works on the margin (log-odds) with a single slope and intercept, so it is strictly
monotone: it changes what a score *means* but never which lead ranks above which. A fit that would
reverse the ranking is refused rather than used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit

# Tiny ridge on the Newton Hessian: keeps the 2×2 solve well-posed when the margin barely varies,
# without measurably biasing the fit (Lin, Lin & Weng 2007, "A note on Platt's probabilistic outputs").
_HESSIAN_RIDGE = 1e-12
# Stop when the mean-scaled gradient is this small: far below any difference visible in a 0–100 score.
_GRADIENT_TOLERANCE = 1e-10
_ARMIJO = 1e-4
_MIN_STEP = 1e-10


@dataclass(frozen=True)
class Platt:
    """A fitted Platt calibration: ``p = 1 / (1 + exp(-(a * margin + b)))`` with ``a > 0``."""

    a: float  # slope on the margin
    b: float  # intercept

    def __post_init__(self) -> None:
        # Refuse to exist in a state that would reverse or flatten the ranking, including when loaded.
        if not (math.isfinite(self.a) and math.isfinite(self.b)):
            raise ValueError(f"calibration: parameters must be finite (a={self.a}, b={self.b})")
        if self.a <= 0:
            raise ValueError(f"calibration: slope a must be positive to keep the ranking (a={self.a})")

    def probability(self, margin: ArrayLike) -> np.ndarray:
        """Calibrated probability for each margin, as float64; exact 0/1 at extreme margins, no warnings."""
        margin = np.asarray(margin, dtype=np.float64)
        # a * margin may overflow to ±inf for absurd margins; expit maps ±inf to exactly 1/0, which is right.
        with np.errstate(over="ignore"):
            z = self.a * margin + self.b
        # scipy's expit is evaluated stably on both tails (no exp overflow), unlike the textbook formula.
        return np.asarray(expit(z), dtype=np.float64)

    def as_dict(self) -> dict[str, float]:
        """JSON-ready parameters, as stored with a model version."""
        return {"a": float(self.a), "b": float(self.b)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Platt:
        """Rebuild from :meth:`as_dict` output; raises ValueError if a parameter is missing or invalid."""
        try:
            return cls(a=float(d["a"]), b=float(d["b"]))
        except KeyError as missing:
            raise ValueError(f"calibration: stored parameters lack {missing}") from None


def _objective(a: float, b: float, margin: np.ndarray, target: np.ndarray) -> float:
    """Mean cross-entropy of soft targets; logaddexp keeps it finite for any margin."""
    z = a * margin + b
    return float(np.mean(np.logaddexp(0.0, z) - target * z))


def fit_platt(margin: ArrayLike, y: ArrayLike, *, max_iter: int = 100) -> Platt:
    """Fit Platt scaling of ``y`` (0/1) on ``margin`` by maximum likelihood (Newton–Raphson, line search).

    Uses Platt's smoothed targets ``(N+ + 1) / (N+ + 2)`` and ``1 / (N- + 2)`` instead of 1 and 0, so a
    small or separable calibration set cannot yield infinite confidence. Raises ValueError when the
    labels are a single class, the margin is constant, the fit would not increase with the margin
    (which would reverse the ranking), or it does not converge within ``max_iter`` Newton steps.
    """
    m = np.asarray(margin, dtype=np.float64).ravel()
    labels = np.asarray(y).ravel()
    if m.shape != labels.shape:
        raise ValueError(f"calibration: margin has {m.size} values but y has {labels.size}")
    if not np.all(np.isfinite(m)):
        raise ValueError("calibration: the margin contains NaN or infinite values")
    if not np.all(np.isin(labels, (0, 1))):
        raise ValueError("calibration: y must contain only 0/1 labels")
    labels = labels.astype(np.int64)
    n_pos = int(labels.sum())
    n_neg = int(labels.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"calibration: the calibration data has a single class ({n_pos} positives, {n_neg} negatives)"
        )
    if np.ptp(m) == 0:
        raise ValueError("calibration: the model's margin is constant on the calibration data")

    target = np.where(labels == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    # Start from the flat model that matches the smoothed base rate: the slope must earn its sign.
    a, b = 0.0, math.log((n_pos + 1.0) / (n_neg + 1.0))
    value = _objective(a, b, m, target)
    converged = False
    for _ in range(max_iter):
        p = expit(a * m + b)
        residual = p - target
        weight = p * (1.0 - p)
        gradient = np.array([np.mean(residual * m), np.mean(residual)])
        if np.max(np.abs(gradient)) < _GRADIENT_TOLERANCE:
            converged = True
            break
        hessian = np.array(
            [
                [np.mean(weight * m * m) + _HESSIAN_RIDGE, np.mean(weight * m)],
                [np.mean(weight * m), np.mean(weight) + _HESSIAN_RIDGE],
            ]
        )
        step = -np.linalg.solve(hessian, gradient)
        slope = float(gradient @ step)
        # Backtracking keeps every step a descent step far from the optimum, where pure Newton can overshoot.
        t = 1.0
        while t >= _MIN_STEP:
            new_a, new_b = a + t * float(step[0]), b + t * float(step[1])
            new_value = _objective(new_a, new_b, m, target)
            if new_value <= value + _ARMIJO * t * slope:
                break
            t /= 2.0
        else:
            # No step decreases the objective in float64: we are at the optimum to machine precision.
            converged = True
            break
        a, b, value = new_a, new_b, new_value
    if not converged:
        raise ValueError(f"calibration: the fit did not converge in {max_iter} iterations")
    if not a > 0:
        raise ValueError(
            "calibration: the model's margin does not increase with the label on the calibration data"
        )
    return Platt(a=float(a), b=float(b))


def score_points(probability: ArrayLike) -> np.ndarray:
    """The 0–100 integer score: ``round(100 * p)`` (half to even, as Python's round), clipped to [0, 100]."""
    p = np.asarray(probability, dtype=np.float64)
    if np.any(np.isnan(p)):
        # Casting NaN to int silently gives garbage; a NaN probability is a bug upstream.
        raise ValueError("score_points: probability contains NaN")
    return np.clip(np.rint(100.0 * p), 0, 100).astype(np.int64)
