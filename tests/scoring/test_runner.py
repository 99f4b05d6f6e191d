"""Scoring leads with the champion, canary and shadow models on real Bank Marketing rows."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ

from sales.models import Lead
from sales.services import lead_bulk_upsert
from scoring.models import FeatureSet, LeadScore, ScoringPolicy
from scoring.runner import NoChampion, canary_bucket, leads_score
from scoring.selectors import acting_scores, score_drops
from scoring.services import model_version_promote
from scoring.training import train_lead_model
from tests.factories import user_in_role
from tests.scoring.conftest import bank_rows, load

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rescore")]


@pytest.fixture
def champion():
    load(bank_rows(1, 9000, step=3))
    version = train_lead_model(feature_set=FeatureSet.objects.get(name="bank-marketing"), actor="test")
    model_version_promote(version_id=version.pk, to="champion", actor="test", reason="test champion")
    return version


def test_it_refuses_to_score_without_a_champion():
    with pytest.raises(NoChampion):
        leads_score(actor="test")


def test_it_scores_explains_and_tiers_every_lead(champion):
    summary = leads_score(actor="test")
    assert summary.leads == Lead.objects.count() == 3000
    assert summary.written["champion"] == 3000
    hot, warm = 80, 50
    for score in LeadScore.objects.all()[:500]:
        expected = "hot" if score.score >= hot else "warm" if score.score >= warm else "cold"
        assert score.tier == expected
        assert score.score == round(score.probability * 100)
        assert 1 <= len(score.reasons) <= 5
        points = [abs(r["points"]) for r in score.reasons]
        assert points == sorted(points, reverse=True)
        assert all(":" in r["text"] and "point" in r["text"] for r in score.reasons)


def test_a_re_run_over_unchanged_leads_writes_nothing_and_a_changed_lead_is_rescored(champion):
    leads_score(actor="test")
    again = leads_score(actor="test")
    assert again.written["champion"] == 0 and again.unchanged == 3000
    lead = Lead.objects.get(external_id="bm-00001")
    lead_bulk_upsert(
        rows=[{"source": "bank-marketing", "external_id": "bm-00001", "attributes": {"euribor3m": 0.7}}],
        actor="t",
    )
    third = leads_score(actor="test")
    assert third.written["champion"] == 1
    assert LeadScore.objects.filter(lead=lead).count() == 2


def test_changing_the_tier_thresholds_retiers_every_lead(champion):
    leads_score(actor="test")
    ScoringPolicy.objects.filter(kind="lead_score").update(hot_threshold=10, warm_threshold=5)
    summary = leads_score(actor="test")
    assert summary.written["champion"] == 3000
    latest = acting_scores(list(Lead.objects.values_list("id", flat=True)))
    assert all(
        s.tier == ("hot" if s.score >= 10 else "warm" if s.score >= 5 else "cold") for s in latest.values()
    )


def test_a_canary_acts_on_a_stable_share_and_a_shadow_only_logs(champion):
    feature_set = FeatureSet.objects.get(name="bank-marketing")
    canary = train_lead_model(feature_set=feature_set, actor="test", seed=1)
    shadow = train_lead_model(feature_set=feature_set, actor="test", seed=2)
    # This test is about who acts on which lead, not about model quality: let any model through.
    ScoringPolicy.objects.filter(kind="lead_score").update(min_auc=0.0, min_auc_margin=1.0)
    model_version_promote(version_id=canary.pk, to="canary", actor="t", reason="canary", canary_share=0.2)
    model_version_promote(version_id=shadow.pk, to="shadow", actor="t", reason="shadow")
    summary = leads_score(actor="test")
    ids = list(Lead.objects.values_list("id", flat=True))
    expected_canary = {i for i in ids if canary_bucket(i, canary.pk) < 0.2}
    assert 0.15 < len(expected_canary) / len(ids) < 0.25
    assert set(LeadScore.objects.filter(role="canary").values_list("lead_id", flat=True)) == expected_canary
    assert summary.written == {
        "champion": 3000 - len(expected_canary),
        "canary": len(expected_canary),
        "shadow": 3000,
    }
    assert not LeadScore.objects.filter(role="shadow").exclude(reasons=[]).exists()
    acting = acting_scores(ids)
    assert {s.model_version_id for s in acting.values()} == {champion.pk, canary.pk}


def test_a_changed_lead_is_queued_for_rescoring_after_commit(
    champion, settings, django_capture_on_commit_callbacks
):
    settings.SCORING_AUTO_RESCORE = True
    queued = OrmQ.objects.count()
    row = {"source": "bank-marketing", "external_id": "bm-00004", "attributes": {"age": 99}}
    with django_capture_on_commit_callbacks(execute=True):
        lead_bulk_upsert(rows=[row], actor="t")
    assert OrmQ.objects.count() == queued + 1
    with django_capture_on_commit_callbacks(execute=True):
        lead_bulk_upsert(rows=[row], actor="t")
    assert OrmQ.objects.count() == queued + 1  # unchanged: nothing to re-score


def test_it_detects_a_sharp_score_drop_within_the_window(champion):
    lead = Lead.objects.first()
    now = timezone.now()
    for days_ago, score in ((6, 90), (3, 85), (0, 50)):
        LeadScore.objects.create(
            lead=lead, model_version=champion, role="champion", probability=score / 100, score=score,
            tier="cold", features_hash=f"h{days_ago}", scored_at=now - timedelta(days=days_ago),
        )  # fmt: skip
    assert score_drops(percent=30, days=7, now=now) == {lead.pk: (90, 50)}
    assert score_drops(percent=50, days=7, now=now) == {}
    assert score_drops(percent=30, days=2, now=now) == {}


def test_export_scores_writes_every_scored_lead(champion, tmp_path):
    leads_score(actor="test")
    path = tmp_path / "scores.csv"
    call_command("export_scores", str(path), "--source", "bank-marketing", stdout=StringIO())
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 3000
    first = rows[0]
    assert first["model_version"] == champion.label and first["tier"] in ("hot", "warm", "cold")
    assert 0 <= float(first["probability"]) <= 1 and " point" in first["top_reasons"]


def test_the_lead_page_shows_the_reasons_chart_in_constant_queries(champion, client):
    leads_score(actor="test")
    client.force_login(user_in_role("SDR managers"))  # leads are the sales roles' (security.roles)
    lead = Lead.objects.first()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/leads/{lead.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in html and "Why this score" in html
    reason = LeadScore.objects.filter(lead=lead).first().reasons[0]["text"]
    assert reason.rsplit(":", 1)[0] in html
    assert len(ctx.captured_queries) <= 8
    listing = client.get("/leads/", {"q": lead.external_id}).content.decode()
    assert f'href="/leads/{lead.pk}/"' in listing, listing[listing.find("<tbody>") :][:800]


@pytest.fixture
def shipped_feature_sets(django_db_setup, django_db_blocker):
    """The data migration's rows again: transactional tests run last, after others flushed every table."""
    from importlib import import_module

    from django.apps import apps

    with django_db_blocker.unblock():
        if not FeatureSet.objects.exists():
            import_module("scoring.migrations.0003_default_feature_sets").forward(apps, None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_writing_batches_on_a_second_connection_stores_what_writing_inline_stores(
    shipped_feature_sets, champion
):
    from django.db import transaction

    from scoring.runner import ScoreWriter

    # Outside a transaction the scorer writes on its own thread, overlapping the next batch.
    assert ScoreWriter.for_this_connection()._pool is not None
    summary = leads_score(actor="test", batch_size=700)
    background = _stored_scores()
    assert summary.written["champion"] == Lead.objects.count() == len(background) > 700 * 3
    LeadScore.objects.all().delete()
    with transaction.atomic():
        assert ScoreWriter.for_this_connection()._pool is None  # a caller's transaction: inline
        leads_score(actor="test", batch_size=700)
    assert _stored_scores() == background


def _stored_scores():
    rows = LeadScore.objects.values_list("lead_id", "score", "tier", "reasons", "features_hash")
    return {(lead, score, tier, json.dumps(reasons), digest) for lead, score, tier, reasons, digest in rows}
