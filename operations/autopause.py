"""Auto-pause: when a live metric goes bad, stop the matching work. Pure (no ORM).

A rule compares a ``Reading`` (the metric over its recent window, how many samples it rests on,
and, for the metrics judged against history, the baseline over an earlier period) with its
threshold:

- *level* metrics (an error rate, the share of calls answered 429, open drift alerts) trip when
  the value reaches the threshold;
- *drop* metrics (reply rate, meeting conversion, CSAT) trip when the value falls below the
  baseline by at least the threshold (an absolute difference: 0.05 is five points).

Too few samples never trip a rule: one failed call of two is not a spike.
"""

from __future__ import annotations

from dataclasses import dataclass

LEVEL, DROP = "level", "drop"


@dataclass(frozen=True)
class Reading:
    value: float
    samples: int
    baseline: float | None = None


@dataclass(frozen=True)
class RuleSpec:
    metric: str
    comparison: str  # level or drop
    threshold: float
    min_samples: int = 20


@dataclass(frozen=True)
class Trip:
    """Why a rule tripped, in numbers and in words (the incident's trigger)."""

    metric: str
    value: float
    threshold: float
    samples: int
    baseline: float | None
    summary: str

    def as_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "value": round(self.value, 4),
            "threshold": self.threshold,
            "samples": self.samples,
            "baseline": None if self.baseline is None else round(self.baseline, 4),
            "summary": self.summary,
        }


def evaluate(rule: RuleSpec, reading: Reading) -> Trip | None:
    """The trip, or None when the reading is fine or rests on too few samples."""
    if reading.samples < rule.min_samples:
        return None
    if rule.comparison == LEVEL:
        if reading.value >= rule.threshold:
            return Trip(
                rule.metric, reading.value, rule.threshold, reading.samples, reading.baseline,
                f"{rule.metric} is {reading.value:.1%} over {reading.samples} samples (limit {rule.threshold:.1%})",
            )  # fmt: skip
        return None
    if rule.comparison == DROP:
        if reading.baseline is None:
            return None
        drop = reading.baseline - reading.value
        if drop >= rule.threshold:
            return Trip(
                rule.metric, reading.value, rule.threshold, reading.samples, reading.baseline,
                f"{rule.metric} fell to {reading.value:.1%} from a baseline of {reading.baseline:.1%} "
                f"({drop:.1%} drop; limit {rule.threshold:.1%}) over {reading.samples} samples",
            )  # fmt: skip
        return None
    raise ValueError(f"comparison must be {LEVEL} or {DROP}, got {rule.comparison!r}")
