"""The threshold what-if page: staff only, figures from the champion's stored hold-out, fixed query count."""

from __future__ import annotations

import pytest

from scoring.choices import ModelKind, ModelStatus
from support.models import IntentPolicy
from tests.factories import ModelVersionFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/support/thresholds/"


@pytest.fixture
def champion():
    # Tickets: card_arrival ×3 predicted right at 0.95, 0.9, 0.6; one terminate_account predicted as
    # card_arrival at 0.7; one terminate_account predicted right at 0.99.
    return ModelVersionFactory(
        kind=ModelKind.INTENT,
        name="banking77",
        status=ModelStatus.CHAMPION,
        preprocessing={"default_threshold": 0.93},
        metrics={"n": 5},
        reference={
            "holdout": {
                "texts": ["a", "b", "c", "d", "e"],
                "labels": [
                    "card_arrival",
                    "card_arrival",
                    "card_arrival",
                    "terminate_account",
                    "terminate_account",
                ],
                "predicted": [
                    "card_arrival",
                    "card_arrival",
                    "card_arrival",
                    "card_arrival",
                    "terminate_account",
                ],
                "confidence": [0.95, 0.9, 0.6, 0.7, 0.99],
            }
        },
    )


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(username="olivia", is_staff=True))
    return client


def test_it_shows_coverage_and_precision_for_a_proposed_threshold(staff, champion, django_assert_num_queries):
    IntentPolicy.objects.filter(intent="card_arrival").update(threshold=0.93)
    # session, user, the user's role groups (pages are closed to API-only accounts), policies, champion,
    # the engaged kill switches (the banner every page shows while one is on)
    with django_assert_num_queries(6):
        response = staff.get(URL, {"intent": "card_arrival", "threshold": "0.65"})
    assert response.status_code == 200
    result, baseline = response.context["result"], response.context["baseline"]
    assert result["predicted"] == 4 and result["answered"] == 3
    assert result["coverage"] == 0.75 and result["precision"] == pytest.approx(2 / 3)
    assert baseline["threshold"] == 0.93 and baseline["answered"] == 1 and baseline["precision"] == 1.0
    # Overall: card_arrival at 0.65 answers 3 (2 right), terminate_account at 0.93 answers its 1 (right).
    assert result["overall_coverage"] == 0.8 and result["overall_precision"] == 0.75
    assert b"intent:banking77:v" in response.content
    assert b"0.750" in response.content and b"0.667" in response.content


def test_it_shows_the_form_without_figures_until_asked(staff, champion):
    response = staff.get(URL)
    assert response.status_code == 200
    assert response.context["result"] is None
    assert b'name="threshold"' in response.content


def test_it_refuses_a_threshold_outside_0_to_1(staff, champion):
    response = staff.get(URL, {"intent": "card_arrival", "threshold": "1.5"})
    assert response.status_code == 200
    assert response.context["result"] is None
    assert response.context["form"].errors["threshold"]


def test_it_says_so_when_there_is_no_model(staff):
    response = staff.get(URL, {"intent": "card_arrival", "threshold": "0.5"})
    assert response.status_code == 200
    assert b"No intent model yet" in response.content


def test_without_a_champion_it_uses_the_newest_version_and_says_so(staff, champion):
    champion.status = ModelStatus.CANDIDATE
    champion.save()
    ModelVersionFactory(kind=ModelKind.INTENT, name="banking77", status=ModelStatus.RETIRED)
    older = ModelVersionFactory(kind=ModelKind.LEAD_SCORE, status=ModelStatus.CHAMPION)
    response = staff.get(URL, {"intent": "card_arrival", "threshold": "0.65"})
    assert response.context["version"].kind == ModelKind.INTENT
    assert response.context["version"].pk != older.pk
    assert b"does not act on tickets" in response.content


def test_the_champion_wins_over_a_newer_candidate(staff, champion):
    newer = ModelVersionFactory(kind=ModelKind.INTENT, name="banking77", version=champion.version + 1)
    response = staff.get(URL)
    assert response.context["version"].pk == champion.pk != newer.pk
    assert b"does not act on tickets" not in response.content


def test_it_is_for_staff_only(client, champion):
    assert client.get(URL).status_code == 302  # to the login page
    client.force_login(UserFactory(username="liam", is_staff=False))
    assert client.get(URL).status_code == 403
