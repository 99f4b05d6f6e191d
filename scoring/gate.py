"""The validation gate a model must pass before it may act (canary or champion). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class GatePolicy:
    min_auc: float = 0.55
    min_auc_margin: float = 0.0
    leakage_auc: float = 0.95
    max_label_ratio: float = 3.0
    min_positive_rate: float = 0.005


@dataclass(frozen=True)
class GateCheck:
    name: str
    passed: bool
    detail: str


@dataclass
class GateResult:
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [asdict(c) for c in self.checks]}


def check_leakage(leakage: Sequence[Mapping[str, Any]], policy: GatePolicy) -> GateCheck:
    """Block a feature known only after the outcome, or one that alone predicts the label almost perfectly."""
    problems = []
    for item in leakage:
        if item.get("known_after_outcome"):
            problems.append(f"'{item['feature']}' is only known after the outcome")
        elif item.get("auc") is not None and item["auc"] >= policy.leakage_auc:
            problems.append(f"'{item['feature']}' alone ranks the label with AUC {item['auc']:.3f}")
    if problems:
        return GateCheck("leakage", False, "; ".join(problems))
    top = max((i for i in leakage if i.get("auc") is not None), key=lambda i: i["auc"], default=None)
    detail = f"strongest single feature '{top['feature']}' AUC {top['auc']:.3f}" if top else "no features"
    return GateCheck("leakage", True, f"{detail} (limit {policy.leakage_auc})")


def check_label_skew(train_rate: float, validation_rate: float, policy: GatePolicy) -> GateCheck:
    """Labels must be usable (both classes, not vanishingly rare) and their rate must not move by more
    than a factor ``max_label_ratio`` between training and the hold-out."""
    low, high = policy.min_positive_rate, 1 - policy.min_positive_rate
    for name, rate in (("training", train_rate), ("hold-out", validation_rate)):
        # A single class is never usable, whatever the configured minimum.
        if not low <= rate <= high or rate <= 0 or rate >= 1:
            return GateCheck(
                "label skew", False, f"{name} positive rate {rate:.4f} is outside [{low}, {high:.3f}]"
            )
    ratio = max(train_rate, validation_rate) / min(train_rate, validation_rate)
    return GateCheck(
        "label skew",
        ratio <= policy.max_label_ratio,
        f"positive rate {train_rate:.3f} in training vs {validation_rate:.3f} in the hold-out "
        f"({ratio:.2f}×; limit {policy.max_label_ratio:g}×)",
    )


def check_auc(candidate_auc: float | None, champion_auc: float | None, policy: GatePolicy) -> GateCheck:
    """The candidate must reach the absolute floor, and the champion's AUC (minus the margin) on the same hold-out."""
    if candidate_auc is None:
        return GateCheck("auc", False, "no hold-out AUC (single-class hold-out)")
    if candidate_auc < policy.min_auc:
        return GateCheck(
            "auc", False, f"hold-out AUC {candidate_auc:.4f} is below the floor {policy.min_auc}"
        )
    if champion_auc is None:
        return GateCheck("auc", True, f"hold-out AUC {candidate_auc:.4f}; no champion to compare with")
    needed = champion_auc - policy.min_auc_margin
    return GateCheck(
        "auc",
        candidate_auc >= needed,
        f"hold-out AUC {candidate_auc:.4f} vs champion {champion_auc:.4f} on the same rows (needs ≥ {needed:.4f})",
    )


def check_fairness(reports: Sequence[Mapping[str, Any]]) -> GateCheck:
    violations = [v for r in reports for v in r.get("violations", [])]
    if violations:
        return GateCheck("fairness", False, "; ".join(f"{v}" for v in violations))
    names = ", ".join(str(r.get("attribute")) for r in reports) or "no subgroups configured"
    return GateCheck("fairness", True, f"gaps within bounds for {names}")


def evaluate_gate(
    *,
    policy: GatePolicy,
    candidate_auc: float | None,
    champion_auc: float | None,
    leakage: Sequence[Mapping[str, Any]],
    train_rate: float,
    validation_rate: float,
    fairness_reports: Sequence[Mapping[str, Any]],
) -> GateResult:
    """Run every check; the gate passes only if all of them pass."""
    return GateResult(
        [
            check_leakage(leakage, policy),
            check_label_skew(train_rate, validation_rate, policy),
            check_auc(candidate_auc, champion_auc, policy),
            check_fairness(fairness_reports),
        ]
    )
