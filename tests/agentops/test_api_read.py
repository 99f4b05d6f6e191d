import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.factories import (
    ModelVersionFactory,
    ProposedActionFactory,
    TicketFactory,
    user_in_role,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(user_in_role("Auditors"))  # reads every domain, decides nothing
    return client


@pytest.mark.parametrize(
    "path", ["/api/v1/leads/", "/api/v1/tickets/", "/api/v1/actions/", "/api/v1/model-versions/"]
)
def test_it_requires_authentication(path):
    assert APIClient().get(path).status_code in (401, 403)


def test_it_lists_actions_with_their_model_version_in_constant_queries(api):
    version = ModelVersionFactory()
    ProposedActionFactory.create_batch(3, model_version=version)
    api.get("/api/v1/actions/")  # the client keeps one user object: its role scope is read once
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/actions/")
    ProposedActionFactory.create_batch(40, model_version=version)
    with CaptureQueriesContext(connection) as many:
        response = api.get("/api/v1/actions/", {"status": "proposed"})
    assert response.json()["count"] == 43
    assert response.json()["results"][0]["model_version"] == version.label
    assert len(many.captured_queries) == len(few.captured_queries)


def test_it_retrieves_a_ticket_and_filters_by_intent(api):
    ticket = TicketFactory(intent_label="card_arrival")
    TicketFactory(intent_label="top_up_failed")
    assert api.get(f"/api/v1/tickets/{ticket.pk}/").json()["external_id"] == ticket.external_id
    listed = api.get("/api/v1/tickets/", {"intent_label": "card_arrival"}).json()
    assert [t["id"] for t in listed["results"]] == [ticket.pk]


def test_it_never_exposes_model_artifacts(api):
    version = ModelVersionFactory(artifact=b"secret-bytes", artifact_sha256="abc")
    body = api.get(f"/api/v1/model-versions/{version.pk}/").json()
    assert "artifact" not in body
    assert body["artifact_sha256"] == "abc"


def test_it_serves_the_openapi_schema_and_local_docs(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/leads/", "/api/v1/leads/bulk/", "/api/v1/actions/{id}/"} <= set(paths)
    docs = api.get("/api/docs/")
    html = docs.content.decode()
    assert docs.status_code == 200
    # Every script and stylesheet is served from here: no absolute URL to another host (a CDN).
    # (Not a search for "cdn" in the page: the random CSRF token in it can contain those letters.)
    external = re.findall(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", html, flags=re.IGNORECASE)
    assert external == []
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
