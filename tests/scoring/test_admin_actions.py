"""Training, promotion and rollback from the Django admin, as an ops admin does it."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django_q.models import OrmQ

from scoring.models import FeatureSet, ModelVersion, ScoringPolicy
from scoring.tasks import train_lead_model_task
from tests.factories import UserFactory
from tests.scoring.conftest import bank_rows, load

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rescore")]


@pytest.fixture
def ops(client):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    return client


def test_the_train_action_queues_a_task_that_registers_a_candidate(ops):
    load(bank_rows(1, 6000, step=2))
    feature_set = FeatureSet.objects.get(name="bank-marketing")
    response = ops.post(
        reverse("admin:scoring_featureset_changelist"),
        {"action": "train", "_selected_action": [feature_set.pk]},
    )
    assert response.status_code == 302
    assert OrmQ.objects.count() == 1
    version = ModelVersion.objects.get(pk=train_lead_model_task(feature_set.pk))
    assert version.status == "candidate" and version.feature_set == feature_set


def test_promote_and_rollback_actions_go_through_the_gate(ops):
    load(bank_rows(1, 6000, step=2))
    ScoringPolicy.objects.filter(kind="lead_score").update(min_auc=0.0, min_auc_margin=1.0)
    feature_set = FeatureSet.objects.get(name="bank-marketing")
    first = ModelVersion.objects.get(pk=train_lead_model_task(feature_set.pk))
    second = ModelVersion.objects.get(pk=train_lead_model_task(feature_set.pk))
    changelist = reverse("admin:scoring_modelversion_changelist")
    for version in (first, second):
        ops.post(changelist, {"action": "promote_champion", "_selected_action": [version.pk]})
    assert ModelVersion.objects.get(status="champion").pk == second.pk
    ops.post(changelist, {"action": "rollback", "_selected_action": [second.pk]})
    assert ModelVersion.objects.get(status="champion").pk == first.pk
    # A failing gate is reported and nothing changes.
    ScoringPolicy.objects.filter(kind="lead_score").update(min_auc=0.99)
    response = ops.post(
        changelist, {"action": "promote_champion", "_selected_action": [second.pk]}, follow=True
    )
    assert "below the floor 0.99" in response.content.decode()
    assert ModelVersion.objects.get(status="champion").pk == first.pk


def test_tier_thresholds_are_validated_and_kept_with_history(ops):
    policy = ScoringPolicy.objects.get(kind="lead_score")
    url = reverse("admin:scoring_scoringpolicy_change", args=[policy.pk])
    form = {
        "kind": "lead_score", "hot_threshold": 40, "warm_threshold": 60, "min_auc": 0.55, "min_auc_margin": 0,
        "leakage_auc": 0.95, "max_label_ratio": 3, "min_positive_rate": 0.005, "fairness_max_tpr_gap": 0.3,
        "fairness_max_fpr_gap": 0.3, "fairness_min_group_size": 100, "psi_warn": 0.1, "psi_alert": 0.25,
        "drift_window_days": 30, "drift_min_sample": 50, "score_drop_percent": 30, "score_drop_days": 7,
    }  # fmt: skip
    response = ops.post(url, form)
    assert response.status_code == 200  # re-shown with an error: warm must be below hot
    assert ScoringPolicy.objects.get(pk=policy.pk).hot_threshold == 80
    response = ops.post(url, {**form, "hot_threshold": 85, "warm_threshold": 55})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.hot_threshold, policy.warm_threshold) == (85, 55)
    assert policy.history.first().history_user.username == "ops"


def test_a_bad_feature_spec_is_refused_in_the_admin_with_the_reason(ops):
    feature_set = FeatureSet.objects.get(name="demo-b2b")
    url = reverse("admin:scoring_featureset_change", args=[feature_set.pk])
    bad = [{"name": "visits", "source": "events.web_visit", "type": "event_count", "display": "Visits"}]
    response = ops.post(
        url,
        {
            "name": "demo-b2b",
            "lead_source": "demo",
            "features": json.dumps(bad),
            "fairness_groups": "[]",
            "hyperparameters": "{}",
            "is_active": "on",
            "description": "",
        },
    )
    assert response.status_code == 200
    assert "window_days must be a positive whole number" in response.content.decode()
    assert FeatureSet.objects.get(pk=feature_set.pk).features != bad
