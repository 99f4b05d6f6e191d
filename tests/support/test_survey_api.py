"""POST /api/v1/support/surveys/: survey tools record CSAT answers per ticket, idempotent per ticket
and survey id, with clear field errors, behind an API key's ``webhooks`` scope and the
survey-response permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from audit.models import DecisionLogEntry
from security.services import apikey_create
from support.models import SurveyResponse
from support.selectors import ticket_facts_since
from tests.factories import TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/support/surveys/"


@pytest.fixture
def survey_tool():
    user = UserFactory(username="survey-tool")
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_surveyresponse", "change_surveyresponse"])
    )
    return user


def _client(user, *scopes):
    client = APIClient()
    plain = apikey_create(user=user, name="Survey tool", scopes=scopes).plain
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


@pytest.fixture
def api(survey_tool):
    return _client(survey_tool, "webhooks")


@pytest.fixture
def ticket():
    return TicketFactory(source="zendesk", external_id="1042")


def _answer(**changes):
    return {
        "source": "zendesk",
        "external_id": "1042",
        "survey_id": "csat-1042",
        "score": 5,
        "responded_at": "2026-11-27T10:00:00+00:00",
        "comment": "Quick and clear",
        **changes,
    }


def test_it_records_an_answer_once_however_often_it_is_sent(api, ticket, django_assert_num_queries):
    first = api.post(URL, _answer(), format="json")
    assert first.status_code == 201, first.json()
    body = first.json()
    assert (body["ticket"], body["score"], body["survey_id"], body["changed"]) == (
        ticket.pk,
        5,
        "csat-1042",
        True,
    )
    entry = DecisionLogEntry.objects.get(subject_type="survey_response")
    assert entry.outcome["score"] == 5 and entry.input_context["survey_id"] == "csat-1042"

    # A repeat: key, user and throttle lookups, the ticket, its lock, the held answer; nothing written.
    with django_assert_num_queries(8):
        again = api.post(URL, _answer(), format="json")
    assert again.status_code == 200 and again.json()["changed"] is False
    assert SurveyResponse.objects.get().score == 5
    assert DecisionLogEntry.objects.filter(subject_type="survey_response").count() == 1

    facts, _ = ticket_facts_since(ticket.opened_at.replace(year=2000))
    assert [f.csat for f in facts] == [5]  # counted in CSAT


def test_a_newer_answer_to_the_same_survey_replaces_it_and_an_older_one_does_not(api, ticket):
    api.post(URL, _answer(), format="json")
    newer = api.post(URL, _answer(score=2, responded_at="2026-11-27T11:00:00Z"), format="json")
    assert newer.status_code == 200 and newer.json()["changed"] is True
    older = api.post(URL, _answer(score=4, responded_at="2026-11-27T09:00:00Z"), format="json")
    assert older.status_code == 200 and older.json()["changed"] is False
    assert SurveyResponse.objects.get().score == 2


def test_an_answer_from_another_survey_is_a_conflict_on_survey_id(api, ticket):
    api.post(URL, _answer(), format="json")
    refused = api.post(URL, _answer(survey_id="csat-other"), format="json")
    assert refused.status_code == 409
    assert refused.json()["field"] == "survey_id" and "'csat-1042'" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"score": 6}, "score", "less than or equal to 5"),
        ({"score": "great"}, "score", "valid integer"),
        ({"responded_at": "yesterday"}, "responded_at", "Datetime has wrong format"),
        ({"survey_id": ""}, "survey_id", "may not be blank"),
        ({"source": "freshdesk"}, "source", "not a valid choice"),
        ({"external_id": "9999"}, "external_id", "no zendesk ticket '9999'"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_the_reason(api, ticket, changes, field, reason):
    refused = api.post(URL, _answer(**changes), format="json")
    assert refused.status_code == 400
    assert refused.json()["field"] == field
    assert refused.json()["detail"].startswith(f"{field}: ") and reason in refused.json()["detail"]
    assert not SurveyResponse.objects.exists()


def test_a_key_without_the_webhooks_scope_or_an_account_without_the_permission_is_refused(
    survey_tool, ticket
):
    assert _client(survey_tool, "read_tickets").post(URL, _answer(), format="json").status_code == 403
    outsider = _client(UserFactory(username="outsider"), "webhooks")
    assert outsider.post(URL, _answer(), format="json").status_code == 403
    assert APIClient().post(URL, _answer(), format="json").status_code in (401, 403)
    assert not SurveyResponse.objects.exists()


def test_the_endpoint_is_in_the_openapi_schema(admin_client):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/support/surveys/"]["post"]
    assert {"201", "200", "400", "409"} <= set(operation["responses"])
