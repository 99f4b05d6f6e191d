"""Sales reads a lead's acting score (its newest champion or canary score) through the score source
scoring registers (``sales.scores``): the lead list's column, the playbook rules' facts and the
cadence's top-reason merge field. Without a source, no lead has a score."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sales.scores import NO_SCORES, lead_top_reasons, score_source_register
from sales.selectors import leads_for_list, playbook_lead_facts
from scoring.lead_scores import LEAD_SCORES
from scoring.models import LeadScore
from tests.factories import LeadFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db


def score(lead, value, *, role, version, days_ago=0.0, reasons=None):
    return LeadScore.objects.create(
        lead=lead,
        model_version=version,
        role=role,
        probability=value / 100,
        score=value,
        tier="hot" if value >= 80 else "warm" if value >= 50 else "cold",
        reasons=reasons if reasons is not None else [{"feature": "visits", "text": f"{value} points"}],
        features_hash=f"h{value}",
        scored_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def scored():
    """Ada: a champion score two days ago, a newer canary one, and a newer shadow one (never acting)."""
    champion = ModelVersionFactory(status="champion", name="lead-xgb", version=3)
    canary = ModelVersionFactory(status="canary", name="lead-xgb", version=4)
    ada = LeadFactory(company_name="Ada Ltd")
    old = score(ada, 40, role="champion", version=champion, days_ago=2)
    new = score(
        ada,
        85,
        role="canary",
        version=canary,
        days_ago=0.5,
        reasons=[{"feature": "x"}, {"feature": "visits", "text": "Visited pricing 4 times"}],
    )
    score(ada, 99, role="shadow", version=canary)
    score(ada, 70, role="champion", version=champion, days_ago=30)
    return ada, old, new


@pytest.fixture
def no_score_source():
    score_source_register(NO_SCORES)
    yield
    score_source_register(LEAD_SCORES)  # what ScoringConfig.ready registers


def test_the_lead_list_shows_the_newest_champion_or_canary_score(scored):
    ada, _, _ = scored
    bob = LeadFactory(company_name="Bob Ltd")

    rows = {lead.pk: (lead.acting_score, lead.acting_tier) for lead in leads_for_list()}

    assert rows[ada.pk] == (85, "hot")
    assert rows[bob.pk] == (None, None)


def test_the_rules_read_the_acting_score_its_model_its_reasons_and_the_window_history(scored):
    ada, old, new = scored

    [facts] = playbook_lead_facts(lead_ids=[ada.pk], now=timezone.now(), history_days=7)

    assert (facts.score, facts.tier, facts.score_id) == (85, "hot", new.pk)
    assert (facts.model_version_id, facts.model_version) == (new.model_version_id, "lead_score:lead-xgb:v4")
    assert facts.reasons == ("Visited pricing 4 times",)
    # The 30-day-old score is outside the 7-day window; the shadow score never acts.
    assert [point[1:] for point in facts.history] == [(old.pk, 40), (new.pk, 85)]


def test_the_cadence_top_reason_is_the_acting_scores_first_worded_reason(scored):
    ada, _, _ = scored
    bob = LeadFactory()

    assert lead_top_reasons([ada.pk, bob.pk]) == {ada.pk: "Visited pricing 4 times"}


def test_without_a_score_source_no_lead_has_a_score(scored, no_score_source):
    ada, _, _ = scored

    [row] = [lead for lead in leads_for_list() if lead.pk == ada.pk]
    [facts] = playbook_lead_facts(lead_ids=[ada.pk], now=timezone.now(), history_days=7)

    assert (row.acting_score, row.acting_tier) == (None, None)
    assert (facts.score, facts.model_version, facts.reasons, facts.history) == (None, "", (), ())
    assert lead_top_reasons([ada.pk]) == {}
