"""Drift of the live lead population against a model's training reference."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from audit.choices import EventType
from audit.services import decision_log_append
from sales.models import Lead
from scoring import drift
from scoring.choices import AlertStatus, DriftLevel, ModelKind
from scoring.features import build_matrix, parse_spec, raw_value
from scoring.models import DriftAlert, DriftReport, ModelVersion
from scoring.predictor import predictor_for
from scoring.selectors import champion, lead_rows, scoring_policy

LEVEL_ORDER = [DriftLevel.INSUFFICIENT, DriftLevel.OK, DriftLevel.WARN, DriftLevel.ALERT]


class NothingToCheck(Exception):
    """No model to check drift for."""


def recent_leads(version: ModelVersion, *, since: datetime):
    """The live population: leads without a known outcome, created or changed since ``since``."""
    leads = Lead.objects.filter(outcome="unknown", updated_at__gte=since)
    if version.feature_set is not None and version.feature_set.lead_source:
        leads = leads.filter(source=version.feature_set.lead_source)
    return leads.order_by("id")


def drift_check(
    *,
    actor: str,
    kind: str = ModelKind.LEAD_SCORE,
    version_id: int | None = None,
    now: datetime | None = None,
) -> DriftReport:
    """Compare recent leads with the model's training data, feature by feature and on the score.

    Writes a report, opens an alert for each feature past the alert threshold (one open alert per
    feature at a time), and logs the check. Happens before any outcome is known.
    """
    version = (
        ModelVersion.objects.select_related("feature_set").get(pk=version_id)
        if version_id
        else champion(kind)
    )
    if version is None:
        raise NothingToCheck(f"drift: there is no {kind} champion to check")
    policy = scoring_policy(version.kind)
    thresholds = drift.DriftThresholds(
        psi_warn=policy.psi_warn, psi_alert=policy.psi_alert, min_sample=policy.drift_min_sample
    )
    now = now or timezone.now()
    since = now - timedelta(days=policy.drift_window_days)
    features = parse_spec(version.feature_spec)
    rows = lead_rows(recent_leads(version, since=since), features, as_of=now)
    predictor = predictor_for(version.feature_spec, version.preprocessing, bytes(version.artifact))
    matrix = build_matrix(features, rows.records, predictor.vocabulary)
    reference = version.reference.get("features", {})
    results: list[drift.FeatureDrift] = []
    for column, feature in enumerate(features):
        if feature.name not in reference:
            continue
        if feature.type == "categorical":
            values = [raw_value(feature, r) for r in rows.records]
            results.append(
                drift.categorical_drift(
                    feature.name,
                    reference[feature.name],
                    [None if v is None else str(v) for v in values],
                    thresholds,
                )
            )
        else:
            results.append(
                drift.numeric_drift(
                    feature.name, reference[feature.name], matrix[:, column].astype(float), thresholds
                )
            )
    if "score" in version.reference and len(rows.ids):
        scores = predictor.score(matrix).score.astype(float)
        results.append(drift.score_drift(version.reference["score"], scores, thresholds))
    level = max(
        (r.level for r in results),
        key=lambda name: LEVEL_ORDER.index(DriftLevel(name)),
        default=DriftLevel.INSUFFICIENT,
    )
    alerting = [r for r in results if r.level == DriftLevel.ALERT]
    with transaction.atomic():
        report = DriftReport.objects.create(
            model_version=version,
            window_start=since,
            window_end=now,
            recent_size=len(rows.ids),
            level=level,
            results=[r.as_dict() for r in results],
        )
        open_features = set(
            DriftAlert.objects.filter(model_version=version, status=AlertStatus.OPEN).values_list(
                "feature", flat=True
            )
        )
        DriftAlert.objects.bulk_create(
            [
                DriftAlert(
                    model_version=version,
                    report=report,
                    feature=r.feature,
                    psi=r.psi,
                    statistic=r.statistic,
                    p_value=r.p_value,
                )
                for r in alerting
                if r.feature not in open_features
            ]
        )
        decision_log_append(
            event_type=EventType.DRIFT_CHECKED,
            actor=actor,
            subject_type="drift_report",
            subject_id=report.pk,
            model_version=version.label,
            prediction={"level": level, "recent": len(rows.ids)},
            action_taken={"alerts": [r.feature for r in alerting]},
        )
        feature_set_id = version.feature_set_id
        if alerting and policy.retrain_on_drift and feature_set_id is not None:
            # Queued by its dotted path: the task module runs this check, so it is not imported here.
            transaction.on_commit(
                lambda: async_task(
                    "scoring.tasks.train_lead_model_task",
                    feature_set_id,
                    "task:train (drift alert)",
                    task_name=f"train {feature_set_id}",
                )
            )
    return report


def model_drift_state(kind: str = ModelKind.LEAD_SCORE) -> str:
    """'alert' while the champion has an open drift alert, else the level of its latest report."""
    current = champion(kind)
    if current is None:
        return DriftLevel.INSUFFICIENT
    if DriftAlert.objects.filter(model_version=current, status=AlertStatus.OPEN).exists():
        return DriftLevel.ALERT
    latest = DriftReport.objects.filter(model_version=current).order_by("-created_at", "-id").first()
    return latest.level if latest else DriftLevel.INSUFFICIENT
