"""The support part of seed_demo: queries for the bot, a metrics history with a baseline, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from support.demo import QUERIES, demo_support_ensure
from support.models import BotRun, SupportSettings, SurveyResponse, Ticket
from tests.support.test_bot_services import champion  # noqa: F401 - the small promoted model

# One xdist worker for the tests that train the intent model on Banking77: the sentence encoder keeps
# the vectors of the texts it encoded per process, and encoding the hold-out and the training texts
# (about a minute) is then paid once, not once per worker.
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("intent-model")]
TODAY = datetime(2026, 11, 27, tzinfo=UTC)


def test_without_a_champion_the_bot_stays_idle_and_says_so():
    said: list[str] = []
    demo_support_ensure(today=TODAY, train=False, say=said.append)
    assert said == [
        "support bot idle: no champion intent model (seed_demo without --no-intent-model trains one; "
        "or manage.py train_intent_model --promote once the gate passes)"
    ]
    assert Ticket.objects.filter(external_id__startswith="demo-b77-", status="new").count() == QUERIES
    assert not BotRun.objects.exists()
    settings_row = SupportSettings.current()
    assert settings_row.baseline_start is not None and settings_row.baseline_end is not None
    counts = (Ticket.objects.count(), SurveyResponse.objects.count())
    demo_support_ensure(today=TODAY, train=False, say=said.append)
    assert (Ticket.objects.count(), SurveyResponse.objects.count()) == counts


def test_with_a_champion_the_bot_handles_the_demo_queries_once(champion):  # noqa: F811
    said: list[str] = []
    demo_support_ensure(today=TODAY, train=False, say=said.append)
    assert BotRun.objects.count() == QUERIES
    assert said[-1].startswith(f"support bot ({champion.label}): {QUERIES} demo tickets; ")
    demo_support_ensure(today=TODAY, train=False, say=said.append)
    assert said[-1].endswith("0 demo tickets; nothing new") and BotRun.objects.count() == QUERIES
