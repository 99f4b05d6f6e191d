"""CSAT from the helpdesks, end to end over HTTP: a customer rates a ticket in the Zendesk sandbox (a
satisfaction rating, good or bad) or the Intercom sandbox (a conversation rating, 1–5); the rating
arrives by webhook (Zendesk's satisfaction trigger, Intercom's ``conversation.rating.added``) or,
when the webhook was lost, by the incremental sync; it becomes the ticket's one CSAT answer, with
the vendor's time and the comment encrypted as the survey API stores it, and shows in the support
metrics. Every assertion about the helpdesk reads it through the vendor's own HTTP API.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from approvals.models import ApprovalPolicy
from audit.models import DecisionLogEntry
from support.models import SurveyResponse, Ticket
from support.selectors import support_metrics_page
from tests.support.helpdesk_world import make_helpdesk
from tests.support.test_bot_services import champion  # noqa: F401 - the trained model, once per session

pytestmark = pytest.mark.django_db

VENDORS = ["zendesk", "intercom"]
#: The customer's happy and unhappy ratings in each helpdesk's own scale.
HAPPY = {"zendesk": "good", "intercom": 5}
UNHAPPY = {"zendesk": "bad", "intercom": 2}
#: The same ratings on our 1–5 CSAT scale (Zendesk's bad counts as 1).
UNHAPPY_SCORE = {"zendesk": 1, "intercom": 2}


@pytest.fixture
def servers():
    running: list = []
    yield running
    for server in running:
        server.stop()


@pytest.fixture
def helpdesk(request, servers, django_capture_on_commit_callbacks, champion):  # noqa: F811
    ApprovalPolicy.objects.create(
        name="Support actions go out on their own", outcome="auto", domains=["support"], priority=10
    )
    return make_helpdesk(request.param, django_capture_on_commit_callbacks, servers)


def _solved_ticket(helpdesk) -> str:
    """A ticket the bot answered and an agent solved, everything delivered."""
    external_id = helpdesk.open_ticket("I am still waiting on my card?")
    helpdesk.round_trip()
    helpdesk.agent_solves(external_id)
    helpdesk.deliver()
    return external_id


def _answer(helpdesk, external_id: str) -> SurveyResponse:
    return SurveyResponse.objects.get(
        ticket=Ticket.objects.get(source=helpdesk.vendor, external_id=external_id)
    )


def _vendor_time(value: str | int) -> datetime:
    if isinstance(value, int):
        return datetime.fromtimestamp(value, tz=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _csat() -> tuple[str, float]:
    """The CSAT row of the Support metrics page over the last week: its figure and its count."""
    row = next(r for r in support_metrics_page(days=7).rows if r.name == "csat")
    return row.value, row.n


def _agent_note(helpdesk, external_id: str) -> None:
    """An agent adds an internal note after the rating: the ticket changes, the rating does not."""
    if helpdesk.vendor == "zendesk":
        note = {"ticket": {"comment": {"body": "Customer rated, closing the loop.", "public": False}}}
        helpdesk.http("PUT", f"/api/v2/tickets/{external_id}.json", note)
    else:
        admin = helpdesk.app.default_admin["id"]
        body = {"type": "admin", "message_type": "note", "admin_id": admin, "body": "Customer rated."}
        helpdesk.http("POST", f"/conversations/{external_id}/reply", body)


def _rating_log_entries() -> int:
    return DecisionLogEntry.objects.filter(subject_type="survey_response").count()


@pytest.mark.parametrize("helpdesk", VENDORS, indirect=True)
def test_a_customers_rating_arrives_by_webhook_and_shows_in_the_support_metrics(helpdesk):
    external_id = _solved_ticket(helpdesk)
    assert _csat() == ("—", 0)

    helpdesk.customer_rates(external_id, HAPPY[helpdesk.vendor], "Quick and kind, thank you")
    helpdesk.deliver()

    answer = _answer(helpdesk, external_id)
    rating = helpdesk.rating(external_id)
    assert (answer.score, answer.comment) == (5, "Quick and kind, thank you")
    assert answer.responded_at == _vendor_time(rating["at"])  # the vendor's time, not ours
    assert _csat() == ("100.0%", 1)
    entry = DecisionLogEntry.objects.get(subject_type="survey_response")
    assert entry.outcome["score"] == 5 and "Quick and kind" not in str(entry.input_context)


@pytest.mark.parametrize("helpdesk", VENDORS, indirect=True)
def test_the_ratings_comment_is_encrypted_at_rest_as_the_survey_api_stores_it(helpdesk):
    external_id = _solved_ticket(helpdesk)
    helpdesk.customer_rates(external_id, UNHAPPY[helpdesk.vendor], "Ana Silva here, still no card")
    helpdesk.deliver()

    pk = _answer(helpdesk, external_id).pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT comment FROM support_surveyresponse WHERE id = %s", [pk])
        (stored,) = cursor.fetchone()
    assert "Ana Silva" not in stored and "still no card" not in stored
    assert _answer(helpdesk, external_id).comment == "Ana Silva here, still no card"


@pytest.mark.parametrize("helpdesk", VENDORS, indirect=True)
def test_a_repeated_delivery_changes_nothing_and_a_changed_rating_replaces_the_answer(helpdesk):
    external_id = _solved_ticket(helpdesk)
    # The helpdesk sends every webhook twice from here on (as after a timeout on its side).
    helpdesk.app.webhooks.configure(url=helpdesk.app.webhooks.url, duplicate_rate=1.0)

    helpdesk.customer_rates(external_id, UNHAPPY[helpdesk.vendor], "Took too long")
    helpdesk.deliver()
    first = _answer(helpdesk, external_id)
    assert (first.score, first.comment) == (UNHAPPY_SCORE[helpdesk.vendor], "Took too long")
    assert _rating_log_entries() == 1 and _csat() == ("0.0%", 1)

    assert helpdesk.redeliver_all() == []  # and once more, everything: nothing new stored
    assert _rating_log_entries() == 1
    assert _answer(helpdesk, external_id).responded_at == first.responded_at

    helpdesk.later(30)
    helpdesk.customer_rates(external_id, HAPPY[helpdesk.vendor], "Sorted after all")
    helpdesk.deliver()

    answer = _answer(helpdesk, external_id)
    assert (answer.pk, answer.score, answer.comment) == (first.pk, 5, "Sorted after all")
    assert answer.responded_at == _vendor_time(helpdesk.rating(external_id)["at"]) > first.responded_at
    assert SurveyResponse.objects.count() == 1 and _rating_log_entries() == 2
    assert _csat() == ("100.0%", 1)


@pytest.mark.parametrize("helpdesk", VENDORS, indirect=True)
def test_a_rating_whose_webhook_was_lost_arrives_with_the_incremental_sync(helpdesk):
    external_id = _solved_ticket(helpdesk)
    helpdesk.customer_rates(external_id, HAPPY[helpdesk.vendor], "Great help")
    rated_at = _vendor_time(helpdesk.rating(external_id)["at"])
    helpdesk.later(20)
    _agent_note(helpdesk, external_id)  # the ticket changes again after the rating
    assert helpdesk.lose_webhooks() >= 2
    assert not SurveyResponse.objects.exists()

    helpdesk.sync()

    answer = _answer(helpdesk, external_id)
    assert (answer.score, answer.comment) == (5, "Great help")
    assert answer.responded_at == rated_at  # the rating's time, not the ticket's later change
    assert _csat() == ("100.0%", 1)
    helpdesk.later(5)
    helpdesk.sync()  # the next run, and the webhooks arriving late after all, change nothing
    helpdesk.redeliver_all()
    assert _rating_log_entries() == 1


@pytest.mark.parametrize("helpdesk", ["zendesk"], indirect=True)
def test_zendesk_refuses_a_rating_of_an_unsolved_ticket_and_nothing_arrives(helpdesk):
    external_id = helpdesk.open_ticket("I am still waiting on my card?")
    helpdesk.deliver()

    with pytest.raises(AssertionError, match="solved ticket"):
        helpdesk.customer_rates(external_id, "good")
    helpdesk.deliver()

    assert not SurveyResponse.objects.exists()
