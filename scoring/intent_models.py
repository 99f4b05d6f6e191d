"""The registered intent model's validation gate, and its fitted model loaded once per process.

Apart from ``scoring.intent_services`` (training, evaluation) so that ``scoring.services``, which
runs the gate of every model kind, imports it without importing the training that registers
through ``scoring.services``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scoring.choices import ModelKind
from scoring.gate import GateCheck, GateResult
from scoring.intent import IntentModel, load_model
from scoring.models import ModelVersion
from scoring.selectors import champion


@dataclass(frozen=True)
class IntentGatePolicy:
    """What an intent model must reach on its hold-out before it may act (issue 7's Done-when)."""

    min_accuracy: float = 0.90
    min_coverage: float = 0.80  # share answered automatically at the default threshold
    min_precision: float = 0.97  # among those answered
    max_accuracy_drop: float = 0.0  # versus the champion on the same hold-out


INTENT_GATE = IntentGatePolicy()


# Loaded models by artifact hash: a champion and a candidate at most (each ~22 MB).
_LOADED: dict[str, IntentModel] = {}
_KEEP = 2


def intent_model(version: ModelVersion) -> IntentModel:
    """The fitted model of a registered version (unpickled once per artifact hash and process)."""
    model = _LOADED.get(version.artifact_sha256)
    if model is None:
        model = load_model(bytes(version.artifact), version.artifact_sha256)
        while len(_LOADED) >= _KEEP:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[version.artifact_sha256] = model
    return model


def intent_gate(version: ModelVersion) -> tuple[GateResult, dict[str, Any], dict[str, Any]]:
    """The intent model's gate: accuracy, and coverage and precision at the default threshold, on
    its hold-out; and accuracy against the champion on the same hold-out texts."""
    policy = INTENT_GATE
    metrics = version.metrics
    accuracy = float(metrics.get("accuracy", 0.0))
    coverage = float(metrics.get("coverage", 0.0))
    precision = metrics.get("precision")
    checks = [
        GateCheck(
            "accuracy",
            accuracy >= policy.min_accuracy,
            f"hold-out accuracy {accuracy:.4f} (needs ≥ {policy.min_accuracy})",
        ),
        GateCheck(
            "coverage",
            coverage >= policy.min_coverage,
            f"answers {coverage:.1%} automatically at the default threshold (needs ≥ {policy.min_coverage:.0%})",
        ),
        GateCheck(
            "precision",
            precision is not None and precision >= policy.min_precision,
            f"precision among those answered {precision or 0:.4f} (needs ≥ {policy.min_precision})",
        ),
    ]
    current = champion(ModelKind.INTENT)
    champion_accuracy = None
    if current is not None and current.pk != version.pk:
        holdout = version.reference.get("holdout", {})
        predictions = intent_model(current).predict(holdout.get("texts", []))
        labels = holdout.get("labels", [])
        champion_accuracy = sum(p.intent == y for p, y in zip(predictions, labels, strict=True)) / max(
            len(labels), 1
        )
        needed = champion_accuracy - policy.max_accuracy_drop
        checks.append(
            GateCheck(
                "champion",
                accuracy >= needed,
                f"accuracy {accuracy:.4f} vs champion {current.label} {champion_accuracy:.4f} on the same "
                f"hold-out (needs ≥ {needed:.4f})",
            )
        )
    details = {
        "champion": current.label if current is not None and current.pk != version.pk else None,
        "champion_accuracy": champion_accuracy,
        "policy": asdict(policy),
    }
    return GateResult(checks), details, {"accuracy": accuracy, "champion_accuracy": champion_accuracy}
