"""Training, the validation gate, promotion and rollback on real Bank Marketing rows."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from audit.models import DecisionLogEntry
from scoring.features import build_matrix, parse_spec
from scoring.models import FeatureSet, ModelVersion, ScoringPolicy
from scoring.predictor import predictor_for
from scoring.selectors import lead_rows, training_leads
from scoring.services import GateFailed, RollbackUnavailable, model_version_promote, model_version_rollback
from scoring.training import TrainingError, train_lead_model
from tests.scoring.conftest import bank_rows, load

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rescore")]


@pytest.fixture
def bank_leads():
    # Every third row of the first 15,000: 5,000 leads spanning May–Aug 2008, in date order.
    load(bank_rows(1, 15000, step=3))


@pytest.fixture
def feature_set():
    return FeatureSet.objects.get(name="bank-marketing")


def _train(feature_set, **kwargs):
    return train_lead_model(feature_set=feature_set, actor="test", **kwargs)


def test_it_trains_registers_and_evaluates_on_a_time_ordered_hold_out(bank_leads, feature_set):
    version = _train(feature_set)
    assert (version.status, version.version, version.name) == ("candidate", 1, "bank-marketing")
    assert version.artifact_sha256 == hashlib.sha256(bytes(version.artifact)).hexdigest()
    assert version.feature_spec == feature_set.features
    assert "duration" not in {f["name"] for f in version.feature_spec}
    assert set(version.library_versions) >= {"xgboost", "numpy", "python"}
    metrics = version.metrics
    sizes = metrics["sizes"]
    assert (
        sizes["validation"] == 1000 and sizes["fit"] + sizes["calibration"] == version.training_rows == 4000
    )
    # Time-ordered: every hold-out lead comes after every training lead.
    ordered = list(training_leads(feature_set).values_list("id", flat=True))
    assert version.validation_lead_ids == ordered[-1000:]
    validation = metrics["validation"]
    for key in ("roc_auc", "pr_auc", "log_loss", "brier", "calibration", "lift", "confusion"):
        assert validation[key] is not None
    assert validation["roc_auc"] > 0.55  # this period of the data set is hard; see docs/benchmarks.md
    assert set(validation["confusion"]) == {"hot", "warm"}
    assert version.validation["checks"] and "passed" in version.validation
    assert DecisionLogEntry.objects.filter(event_type="model.trained", subject_id=str(version.pk)).exists()


def test_saved_model_predicts_what_training_evaluated_and_contributions_sum_to_the_margin(
    bank_leads, feature_set
):
    version = _train(feature_set)
    predictor = predictor_for(version.feature_spec, version.preprocessing, bytes(version.artifact))
    features = parse_spec(version.feature_spec)
    rows = lead_rows(training_leads(feature_set), features, as_of=None, at_outcome=True)
    matrix = build_matrix(features, rows.records, predictor.vocabulary)
    scored = predictor.score(matrix)
    contributions = predictor.contributions(matrix)
    np.testing.assert_allclose(contributions.sum(axis=1), scored.margin, atol=1e-3)
    # Calibration keeps the model's ranking: a higher margin never gets a lower probability.
    order = np.argsort(scored.margin)
    assert np.all(np.diff(scored.probability[order]) >= 0)


def test_it_refuses_to_train_on_too_few_labelled_leads(feature_set):
    load(bank_rows(1, 50))
    with pytest.raises(TrainingError, match="at least 200"):
        _train(feature_set)


def test_the_gate_blocks_a_feature_known_only_after_the_outcome(bank_leads, feature_set):
    feature_set.features = [
        *feature_set.features,
        {"name": "duration", "source": "attributes.duration", "type": "numeric", "display": "Call duration",
         "known_after_outcome": True},
    ]  # fmt: skip
    feature_set.save()
    version = _train(feature_set)
    assert not version.validation["passed"]
    with pytest.raises(GateFailed, match="'duration' is only known after the outcome"):
        model_version_promote(version_id=version.pk, to="champion", actor="test", reason="try")
    assert ModelVersion.objects.get(pk=version.pk).status == "candidate"


def test_the_gate_blocks_a_feature_that_alone_predicts_the_label(feature_set):
    rows = bank_rows(1, 15000, step=3)
    for row in rows:
        row["attributes"]["follow_up_flag"] = 1 if row["outcome"] == "converted" else 0
    load(rows)
    feature_set.features = [
        *feature_set.features,
        {
            "name": "follow_up_flag",
            "source": "attributes.follow_up_flag",
            "type": "numeric",
            "display": "Follow-up",
        },
    ]
    feature_set.save()
    version = _train(feature_set)
    with pytest.raises(GateFailed, match="'follow_up_flag' alone ranks the label with AUC 1.000"):
        model_version_promote(version_id=version.pk, to="champion", actor="test", reason="try")


def test_the_gate_blocks_a_fairness_gap_beyond_the_configured_bound(bank_leads, feature_set):
    version = _train(feature_set)
    model_version_promote(version_id=version.pk, to="shadow", actor="test", reason="shadow first")
    # Warm from score 5 up, so each age band has predicted positives whose rates can differ.
    ScoringPolicy.objects.filter(kind="lead_score").update(
        warm_threshold=5,
        hot_threshold=10,
        fairness_max_fpr_gap=0.0001,
        fairness_max_tpr_gap=0.0001,
        fairness_min_group_size=20,
    )
    with pytest.raises(GateFailed, match="fairness: .*gap"):
        model_version_promote(version_id=version.pk, to="champion", actor="test", reason="try")


def test_promotion_needs_the_champion_beaten_and_rollback_restores_it(bank_leads, feature_set):
    first = _train(feature_set)
    model_version_promote(version_id=first.pk, to="champion", actor="ops", reason="first model")
    weaker = _train(
        feature_set, hyperparameters={"num_boost_round": 1, "max_depth": 1, "early_stopping_rounds": 1}
    )
    ScoringPolicy.objects.filter(kind="lead_score").update(
        min_auc=0.0
    )  # compare with the champion, not the floor
    with pytest.raises(GateFailed, match="auc: .* vs champion"):
        model_version_promote(version_id=weaker.pk, to="champion", actor="ops", reason="try weaker")

    ScoringPolicy.objects.filter(kind="lead_score").update(min_auc_margin=1.0)  # let anything through
    model_version_promote(version_id=weaker.pk, to="champion", actor="ops", reason="forced by policy")
    assert ModelVersion.objects.get(pk=first.pk).status == "retired"

    restored = model_version_rollback(kind="lead_score", actor="ops", reason="conversion dropped")
    assert restored.pk == first.pk and restored.status == "champion"
    assert ModelVersion.objects.get(pk=weaker.pk).status == "retired"
    reasons = [h.history_change_reason for h in ModelVersion.objects.get(pk=first.pk).history.all()]
    assert "rollback: conversion dropped" in reasons


def test_rollback_without_an_earlier_champion_is_refused(bank_leads, feature_set):
    only = _train(feature_set)
    model_version_promote(version_id=only.pk, to="champion", actor="ops", reason="first")
    with pytest.raises(RollbackUnavailable):
        model_version_rollback(kind="lead_score", actor="ops", reason="nothing to go back to")


def test_a_canary_needs_a_share(bank_leads, feature_set):
    version = _train(feature_set)
    with pytest.raises(ValueError, match="canary_share"):
        model_version_promote(version_id=version.pk, to="canary", actor="ops", reason="try")
    model_version_promote(version_id=version.pk, to="canary", actor="ops", reason="10%", canary_share=0.1)
    assert ModelVersion.objects.get(pk=version.pk).canary_share == 0.1


def test_the_gate_sees_a_category_that_gives_the_label_away(feature_set):
    rows = bank_rows(1, 15000, step=3)
    for i, row in enumerate(rows):
        # Codes of these categories interleave yes/no, so only their positive rates reveal them.
        row["attributes"]["crm_stage"] = (
            ("a", "c", "e")[i % 3] if row["outcome"] == "converted" else ("b", "d")[i % 2]
        )
    load(rows)
    feature_set.features = [
        *feature_set.features,
        {
            "name": "crm_stage",
            "source": "attributes.crm_stage",
            "type": "categorical",
            "display": "CRM stage",
        },
    ]
    feature_set.save()
    version = _train(feature_set)
    leak = next(item for item in version.metrics["leakage"] if item["feature"] == "crm_stage")
    assert leak["auc"] == pytest.approx(1.0)
    assert not version.validation["passed"]


def test_on_the_real_file_the_model_beats_a_logistic_regression_on_the_same_time_split(feature_set):
    load(bank_rows(1, 32950))
    version = _train(feature_set)
    metrics = version.metrics
    assert metrics["sizes"]["validation"] == 6590
    assert metrics["split"] == "time-ordered"
    assert metrics["validation"]["roc_auc"] > metrics["baseline_logistic_auc"] + 0.03
    assert version.validation["passed"], version.validation
