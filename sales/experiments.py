"""Controlled experiments on playbooks: a deterministic hold-out and the effect with its interval.

A playbook with a control share leaves that share of its eligible leads alone (logged as held
out), chosen by a hash of the playbook and the lead, so a re-run, another worker or next week's
run always puts the same lead in the same arm. Its incremental effect on a rate (reply, meeting,
conversion) is treatment rate minus control rate with Newcombe's hybrid-score 95% interval,
which behaves for the small rates and small arms outreach produces (a Wald interval does not).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

CONTROL, TREATMENT = "control", "treatment"
Z95 = 1.959963984540054


def arm_for(*, playbook_id: int, lead_id: int, control_share: float) -> str:
    """``control`` for a stable ``control_share`` of leads, else ``treatment``."""
    if control_share <= 0:
        return TREATMENT
    digest = hashlib.sha256(f"playbook:{playbook_id}:lead:{lead_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return CONTROL if position < control_share else TREATMENT


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when there is no data."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Effect:
    """Treatment minus control rate, with its 95% interval and each arm's rate and size."""

    treatment_rate: float
    control_rate: float
    difference: float
    low: float
    high: float
    treatment_n: int
    control_n: int

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low > 0 or self.high < 0


def effect(treatment_successes: int, treatment_n: int, control_successes: int, control_n: int) -> Effect:
    """Newcombe's hybrid-score interval (method 10) for the difference of two proportions."""
    for name, successes, n in (
        ("treatment", treatment_successes, treatment_n),
        ("control", control_successes, control_n),
    ):
        if n < 0 or not 0 <= successes <= max(n, 0):
            raise ValueError(f"{name}: successes must be between 0 and n (got {successes} of {n})")
    p1 = treatment_successes / treatment_n if treatment_n else 0.0
    p2 = control_successes / control_n if control_n else 0.0
    l1, u1 = wilson(treatment_successes, treatment_n)
    l2, u2 = wilson(control_successes, control_n)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Effect(p1, p2, difference, low, high, treatment_n, control_n)
