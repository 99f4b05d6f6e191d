from __future__ import annotations

import json
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from audit.choices import EventType
from audit.services import decision_log_append
from sales.models import Lead
from scoring.choices import ModelKind, ModelStatus
from scoring.fairness import FairnessBounds, band_values, subgroup_report
from scoring.features import FeatureDef, build_matrix, parse_spec, raw_value
from scoring.gate import GatePolicy, GateResult, evaluate_gate
from scoring.intent_models import intent_gate
from scoring.metrics import roc_auc
from scoring.models import ModelVersion
from scoring.predictor import predictor_for
from scoring.selectors import LeadRows, champion, lead_rows, model_version_next_number, scoring_policy
from scoring.states import MODEL_STATES


def model_version_transition(
    *, version_id: int, to: ModelStatus | str, actor: str, reason: str
) -> ModelVersion:
    """Change a model version's status through the state machine, recording who and why.

    Making a version champion retires the current champion of the same kind in the same
    transaction (rows locked in id order), so there is never a moment with two champions.
    """
    if not reason.strip():
        raise ValueError("reason: a reason is required for every model status change.")
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version_id)
        MODEL_STATES.check(version.status, str(to))
        previous = version.status
        retired: list[ModelVersion] = []
        if to == ModelStatus.CHAMPION:
            retired = list(
                ModelVersion.objects.select_for_update()
                .filter(kind=version.kind, status=ModelStatus.CHAMPION)
                .exclude(pk=version.pk)
                .order_by("pk")
            )
            for old in retired:
                old.status = ModelStatus.RETIRED
                old._change_reason = f"replaced by {version.label}: {reason}"  # type: ignore[attr-defined]
                old.save(update_fields=["status", "updated_at"])
        version.status = str(to)
        version._change_reason = reason  # type: ignore[attr-defined]
        fields = ["status", "updated_at"]
        if to == ModelStatus.CHAMPION:
            version.last_champion_at = timezone.now()
            fields.append("last_champion_at")
        version.save(update_fields=fields)
        decision_log_append(
            event_type=EventType.MODEL_TRANSITIONED,
            actor=actor,
            subject_type="model_version",
            subject_id=version.pk,
            model_version=version.label,
            action_taken={
                "from": previous,
                "to": version.status,
                "reason": reason,
                "retired": [old.label for old in retired],
            },
        )
    return version


def model_version_register(
    *, actor: str, input_context: dict[str, Any], prediction: dict[str, Any], **fields: Any
) -> ModelVersion:
    """Register a trained model as a candidate and run the validation gate on it.

    The version is numbered after the last one of its kind and name, and its decision-log entry is
    written in the same transaction. ``fields`` are ModelVersion fields (``kind`` and ``name``
    required). The candidate is stored whatever the gate says (its report explains the verdict);
    only promotion requires the gate to pass.
    """
    with transaction.atomic():
        version = ModelVersion.objects.create(
            version=model_version_next_number(kind=fields["kind"], name=fields["name"]), **fields
        )
        decision_log_append(
            event_type=EventType.MODEL_TRAINED,
            actor=actor,
            subject_type="model_version",
            subject_id=version.pk,
            model_version=version.label,
            input_context=input_context,
            prediction=prediction,
        )
    model_version_validate(version_id=version.pk, actor=actor)
    version.refresh_from_db()
    return version


class GateFailed(Exception):
    """Promotion refused: the validation gate did not pass."""

    def __init__(self, version: ModelVersion, failures: list[str]) -> None:
        self.version = version
        self.failures = failures
        super().__init__(f"{version.label} cannot be promoted: " + "; ".join(failures))


class RollbackUnavailable(Exception):
    """There is no earlier champion to go back to."""


def _validation_rows(version: ModelVersion, features: list[FeatureDef]) -> LeadRows:
    leads = Lead.objects.filter(pk__in=version.validation_lead_ids).order_by("outcome_at", "id")
    return lead_rows(leads, features, as_of=None, at_outcome=True)


def _predict_auc(
    version: ModelVersion, rows_cache: dict[str, LeadRows]
) -> tuple[float | None, np.ndarray, LeadRows]:
    features = parse_spec(version.feature_spec)
    key = json.dumps(version.feature_spec, sort_keys=True)
    rows = rows_cache.get(key)
    if rows is None:
        rows = rows_cache[key] = _validation_rows(version, features)
    predictor = predictor_for(version.feature_spec, version.preprocessing, bytes(version.artifact))
    scored = predictor.score(build_matrix(features, rows.records, predictor.vocabulary))
    labels = np.array([o == "converted" for o in rows.outcomes], dtype=np.int8)
    return roc_auc(labels, scored.probability), scored.score, rows


def _group_values(group: dict[str, Any], rows: LeadRows) -> list[str]:
    probe = FeatureDef(name=group["name"], source=group["source"], type="categorical", display=group["name"])
    values = [raw_value(probe, record) for record in rows.records]
    if group.get("edges"):
        return band_values(
            [None if v is None else float(v) for v in values], list(group["edges"]), group.get("labels")
        )
    return ["unknown" if v is None else str(v) for v in values]


def model_version_validate(*, version_id: int, actor: str) -> GateResult:
    """Run the validation gate for a version on its own hold-out, against the current champion.

    Stores the result on the version and in the decision log; returns it.
    """
    version = ModelVersion.objects.select_related("feature_set").get(pk=version_id)
    if version.kind == ModelKind.INTENT:
        result, details, prediction = intent_gate(version)
    else:
        result, details, prediction = _lead_gate(version)
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version_id)
        version.validation = {
            **result.as_dict(),
            **details,
            "validated_at": timezone.now().isoformat(),
        }
        version._change_reason = "validation gate " + ("passed" if result.passed else "failed")  # type: ignore[attr-defined]
        version.save(update_fields=["validation", "updated_at"])
        decision_log_append(
            event_type=EventType.MODEL_VALIDATED,
            actor=actor,
            subject_type="model_version",
            subject_id=version.pk,
            model_version=version.label,
            prediction=prediction,
            action_taken={"passed": result.passed, "failures": result.failures},
        )
    return result


def _lead_gate(version: ModelVersion) -> tuple[GateResult, dict[str, Any], dict[str, Any]]:
    """The lead model's gate: AUC floor and champion comparison, leakage, label skew, fairness."""
    policy = scoring_policy(version.kind)
    rows_cache: dict[str, LeadRows] = {}
    candidate_auc, scores, rows = _predict_auc(version, rows_cache)
    labels = np.array([o == "converted" for o in rows.outcomes], dtype=np.int8)
    current = champion(version.kind)
    champion_auc = None
    if current is not None and current.pk != version.pk:
        champion_auc, _, _ = _predict_auc(current, rows_cache)
    bounds = FairnessBounds(
        max_tpr_gap=policy.fairness_max_tpr_gap,
        max_fpr_gap=policy.fairness_max_fpr_gap,
        min_group_size=policy.fairness_min_group_size,
    )
    groups = version.feature_set.fairness_groups if version.feature_set else []
    fairness = [
        subgroup_report(
            group["name"],
            _group_values(group, rows),
            labels,
            scores,
            positive_threshold=policy.warm_threshold,
            thresholds=policy.tier_thresholds,
            bounds=bounds,
        )
        for group in groups
    ]
    result = evaluate_gate(
        policy=GatePolicy(
            min_auc=policy.min_auc,
            min_auc_margin=policy.min_auc_margin,
            leakage_auc=policy.leakage_auc,
            max_label_ratio=policy.max_label_ratio,
            min_positive_rate=policy.min_positive_rate,
        ),
        candidate_auc=candidate_auc,
        champion_auc=champion_auc,
        leakage=version.metrics.get("leakage", []),
        train_rate=float(version.metrics.get("train_positive_rate", 0.0)),
        validation_rate=float(labels.mean()) if len(labels) else 0.0,
        fairness_reports=fairness,
    )
    details = {
        "candidate_auc": candidate_auc,
        "champion": current.label if current is not None and current.pk != version.pk else None,
        "champion_auc": champion_auc,
        "fairness": fairness,
    }
    return result, details, {"auc": candidate_auc, "champion_auc": champion_auc}


def model_version_promote(
    *, version_id: int, to: ModelStatus | str, actor: str, reason: str, canary_share: float | None = None
) -> ModelVersion:
    """Promote a version; acting statuses (canary, champion) first need the validation gate to pass."""
    if to in (ModelStatus.CANARY, ModelStatus.CHAMPION):
        result = model_version_validate(version_id=version_id, actor=actor)
        if not result.passed:
            raise GateFailed(ModelVersion.objects.get(pk=version_id), result.failures)
    if to == ModelStatus.CANARY:
        if canary_share is None or not 0 < canary_share < 1:
            raise ValueError("canary_share: a canary needs a share of leads between 0 and 1 (e.g. 0.1).")
        ModelVersion.objects.filter(pk=version_id).update(canary_share=canary_share)
    return model_version_transition(version_id=version_id, to=to, actor=actor, reason=reason)


def model_version_rollback(*, kind: str, actor: str, reason: str) -> ModelVersion:
    """Make the previous champion champion again (one step); the current one is retired."""
    current = champion(kind)
    candidates = ModelVersion.objects.filter(
        kind=kind, status=ModelStatus.RETIRED, last_champion_at__isnull=False
    )
    if current is not None:
        candidates = candidates.exclude(pk=current.pk)
    previous = candidates.order_by("-last_champion_at").first()
    if previous is None:
        raise RollbackUnavailable(f"rollback: no earlier {kind} champion to go back to")
    return model_version_transition(
        version_id=previous.pk, to=ModelStatus.CHAMPION, actor=actor, reason=f"rollback: {reason}"
    )
