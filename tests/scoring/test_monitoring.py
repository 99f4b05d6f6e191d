"""Drift of the live lead population, on real Bank Marketing rows from a later, shifted period."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import OrmQ

from scoring.models import DriftAlert, DriftReport, FeatureSet, ScoringPolicy
from scoring.monitoring import drift_check, model_drift_state
from scoring.runner import leads_score
from scoring.services import model_version_promote
from scoring.training import train_lead_model
from tests.factories import UserFactory
from tests.scoring.conftest import bank_rows, load

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rescore")]

# Economic context columns that moved between mid-2008 and spring 2009 in the real data.
MACRO = {"euribor3m", "nr_employed", "emp_var_rate", "cons_price_idx", "cons_conf_idx"}


@pytest.fixture
def champion():
    # Train on May–Jul 2008 (every other row of the first 12,000, with outcomes).
    load(bank_rows(1, 12000, step=2))
    version = train_lead_model(feature_set=FeatureSet.objects.get(name="bank-marketing"), actor="test")
    # Drift is about inputs, not model quality: lower the AUC floor so this small model may act.
    ScoringPolicy.objects.filter(kind="lead_score").update(min_auc=0.5)
    model_version_promote(version_id=version.pk, to="champion", actor="test", reason="drift test champion")
    return version


def test_leads_from_a_later_period_raise_an_alert_naming_the_shifted_features(champion):
    # Spring 2009 leads arrive without outcomes: nothing is known about them yet but their inputs.
    load(bank_rows(29001, 32950, with_outcome=False))
    leads_score(actor="test")
    report = drift_check(actor="test")
    assert report.level == "alert"
    assert report.recent_size == 3950
    alerted = set(DriftAlert.objects.filter(report=report).values_list("feature", flat=True))
    assert {"euribor3m", "nr_employed"} <= alerted
    assert "month" in alerted  # March-May 2009 against May–July 2008
    assert model_drift_state() == "alert"
    # A second check does not duplicate the open alerts.
    drift_check(actor="test")
    assert DriftAlert.objects.filter(status="open").count() == len(alerted)


def test_an_unshifted_sample_from_the_training_period_raises_no_alert(champion):
    # The rows between the training rows of the fitted period (the newest 20% was the hold-out):
    # same period, same population, no outcomes.
    load(bank_rows(2, 9400, step=2, with_outcome=False))
    report = drift_check(actor="test")
    assert report.recent_size == 4700
    assert not DriftAlert.objects.exists()
    levels = {r["feature"]: r["level"] for r in report.results}
    assert all(levels[f] == "ok" for f in MACRO), levels
    assert report.level in ("ok", "warn")


def test_drift_report_command_prints_features_and_alerts_as_json(champion):
    load(bank_rows(29001, 32950, with_outcome=False))
    out = StringIO()
    call_command("drift_report", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["model_version"] == champion.label and body["level"] == "alert"
    assert {f["feature"] for f in body["features"]} >= MACRO | {"score"}
    assert "euribor3m" in {a["feature"] for a in body["open_alerts"]}
    text = StringIO()
    call_command("drift_report", stdout=text)
    assert "euribor3m" in text.getvalue() and "open alerts:" in text.getvalue()


def test_the_drift_page_lists_the_latest_report(champion, client):
    load(bank_rows(29001, 32950, with_outcome=False))
    drift_check(actor="test")
    client.force_login(UserFactory())
    html = client.get("/scoring/drift/").content.decode()
    assert "euribor3m" in html and "Open alerts" in html
    assert DriftReport.objects.count() == 1


def test_a_drift_alert_queues_retraining_when_the_policy_says_so(
    champion, django_capture_on_commit_callbacks
):
    ScoringPolicy.objects.filter(kind="lead_score").update(retrain_on_drift=True)
    load(bank_rows(29001, 32950, with_outcome=False))
    queued = OrmQ.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        drift_check(actor="test")
    assert OrmQ.objects.count() == queued + 1
    assert "scoring.tasks.train_lead_model_task" in [q.task["func"] for q in OrmQ.objects.all()]


def test_score_leads_command_reports_throughput_and_skips_unchanged(champion):
    out = StringIO()
    call_command("score_leads", "--no-progress", stdout=out)
    assert "scored 6000 leads" in out.getvalue()
    out = StringIO()
    call_command("score_leads", "--no-progress", stdout=out)
    assert "unchanged 6000" in out.getvalue()
