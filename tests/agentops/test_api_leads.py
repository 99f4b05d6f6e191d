import math

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from audit.models import DecisionLogEntry
from sales.choices import LeadProducer
from sales.models import Lead
from sales.services import lead_bulk_upsert
from tests.factories import LeadFactory, UserFactory, user_in_role

pytestmark = pytest.mark.django_db
BULK = "/api/v1/leads/bulk/"


@pytest.fixture
def writer():
    user = user_in_role("Integration accounts", username="integration")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_lead", "change_lead"]))
    client = APIClient()
    client.force_authenticate(user)
    return client


def _rows(n, **extra):
    return [
        {"source": "hubspot", "external_id": f"h-{i}", "first_name": "Lin", "last_name": f"Wu{i}", **extra}
        for i in range(n)
    ]


def test_it_creates_then_reports_unchanged_on_a_resend(writer):
    rows = _rows(3, email="LIN@Example.com", attributes={"industry": "Fintech"})
    first = writer.post(BULK, {"leads": rows}, format="json")
    again = writer.post(BULK, {"leads": rows}, format="json")
    assert first.status_code == 200, first.json()
    assert (first.json()["created"], again.json()["created"], again.json()["unchanged"]) == (3, 0, 3)
    assert Lead.objects.filter(source="hubspot").count() == 3
    assert Lead.objects.get(external_id="h-0").email == "lin@example.com"
    assert [r["status"] for r in again.json()["results"]] == ["unchanged"] * 3
    assert DecisionLogEntry.objects.filter(event_type="leads.upserted").count() == 1


def test_it_updates_only_the_fields_sent_and_merges_attributes(writer):
    writer.post(BULK, {"leads": _rows(1, title="CTO", attributes={"a": 1, "b": 2})}, format="json")
    response = writer.post(
        BULK,
        {"leads": [{"source": "hubspot", "external_id": "h-0", "attributes": {"b": None, "c": 3}}]},
        format="json",
    )
    assert response.json()["updated"] == 1
    lead = Lead.objects.get(external_id="h-0")
    assert (lead.title, lead.attributes) == ("CTO", {"a": 1, "c": 3})


def test_it_rejects_the_whole_batch_with_every_bad_row_named(writer):
    rows = _rows(4)
    rows[1]["email"] = "not-an-email"
    rows[2]["deal_value"] = -5
    rows[3]["colour"] = "blue"
    response = writer.post(BULK, {"leads": rows}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["rejected"] == 3
    assert {(e["index"], e["field"]) for e in body["errors"]} == {
        (1, "email"),
        (2, "deal_value"),
        (3, "colour"),
    }
    assert "not a valid email" in next(e["message"] for e in body["errors"] if e["field"] == "email")
    assert Lead.objects.count() == 0
    assert DecisionLogEntry.objects.count() == 0


def test_it_rejects_a_key_sent_twice_in_one_batch(writer):
    rows = _rows(2)
    rows[1]["external_id"] = "h-0"
    response = writer.post(BULK, {"leads": rows}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "index": 1,
            "external_id": "h-0",
            "field": "external_id",
            "message": "duplicates row 0 of this batch",
        }
    ]


def test_it_refuses_an_owner_which_only_the_crm_sync_sets(writer):
    UserFactory(username="sofia")
    rows = _rows(2)
    rows[0]["owner"] = "sofia"
    response = writer.post(BULK, {"leads": rows}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 0, "external_id": "h-0", "field": "owner", "message": "set by the CRM sync"}
    ]
    assert not Lead.objects.exists()


def test_the_crm_sync_rejects_an_unknown_owner_and_resolves_a_known_one():
    UserFactory(username="sofia")
    rows = _rows(2)
    rows[0]["owner"] = "sofia"
    rows[1]["owner"] = "nobody"
    outcome = lead_bulk_upsert(rows=rows, actor="connector:hubspot", producer=LeadProducer.CRM_SYNC)
    assert [e.field for e in outcome.errors] == ["owner"]
    assert lead_bulk_upsert(rows=rows[:1], actor="connector:hubspot", producer=LeadProducer.CRM_SYNC).ok
    assert Lead.objects.get(external_id="h-0").owner.username == "sofia"


def test_it_ignores_an_older_update_than_the_one_stored(writer):
    newer = {
        "source": "hubspot",
        "external_id": "h-0",
        "title": "CEO",
        "source_modified_at": "2026-05-02T10:00:00Z",
    }
    older = {**newer, "title": "Intern", "source_modified_at": "2026-05-01T10:00:00Z"}
    writer.post(BULK, {"leads": [newer]}, format="json")
    response = writer.post(BULK, {"leads": [older]}, format="json")
    assert response.json()["stale"] == 1
    assert Lead.objects.get(external_id="h-0").title == "CEO"


def test_it_refuses_more_than_the_batch_limit(writer, settings):
    settings.LEAD_BULK_MAX_ROWS = 5
    response = writer.post(BULK, {"leads": _rows(6)}, format="json")
    assert response.status_code == 413
    assert "at most 5 rows" in response.json()["detail"]


def test_it_needs_a_list_of_leads(writer):
    response = writer.post(BULK, {"leads": {"source": "x"}}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("leads:")


def test_it_forbids_bulk_writes_without_lead_permissions():
    client = APIClient()
    client.force_authenticate(UserFactory())
    assert client.post(BULK, {"leads": _rows(1)}, format="json").status_code == 403
    assert APIClient().post(BULK, {"leads": _rows(1)}, format="json").status_code in (401, 403)


def test_it_writes_a_large_batch_with_a_constant_number_of_queries(writer):
    with CaptureQueriesContext(connection) as small:
        writer.post(BULK, {"leads": _rows(10)}, format="json")
    Lead.objects.all().delete()
    with CaptureQueriesContext(connection) as large:
        response = writer.post(BULK, {"leads": _rows(1000)}, format="json")
    assert response.json()["created"] == 1000
    # Rows are written in multi-row INSERTs (500 a statement, fewer where SQLite caps parameters):
    # the count grows with the number of statements, never with the number of rows.
    fields = [f for f in Lead._meta.concrete_fields if not f.primary_key]
    per_insert = min(500, connection.ops.bulk_batch_size(fields, [None] * 1000))
    inserts = math.ceil(1000 / per_insert)
    assert len(large.captured_queries) <= len(small.captured_queries) + inserts


def test_it_lists_and_filters_leads_without_per_row_queries(writer):
    LeadFactory.create_batch(30, source="salesforce", owner=UserFactory())
    LeadFactory.create_batch(5, source="hubspot")
    writer.get("/api/v1/leads/")  # the client keeps one user object: its role scope is read once
    with CaptureQueriesContext(connection) as ctx:
        response = writer.get("/api/v1/leads/", {"source": "salesforce"})
    assert response.status_code == 200
    assert response.json()["count"] == 30
    assert len(ctx.captured_queries) <= 4
