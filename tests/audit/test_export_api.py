"""GET /api/v1/audit/export/: the decision log as JSON Lines for auditors and ops admins."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from audit import chain
from audit.services import audit_seal_pending
from security.services import apikey_create
from tests.audit.helpers import append
from tests.factories import user_in_role

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit/export/"


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_an_auditor_exports_a_date_range_that_recomputes_its_seals():
    entries = [append(subject_id=i) for i in range(3)]
    audit_seal_pending()
    day = entries[0].timestamp.date().isoformat()
    response = _client(user_in_role("Auditors")).get(URL, {"from": day, "to": day})
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    assert f'filename="decision-log-{day}-{day}.jsonl"' in response["Content-Disposition"]
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [row["id"] for row in rows] == [e.pk for e in entries]
    assert all(row["entry_hash"] == chain.entry_hash(row) for row in rows)
    assert rows[0]["input_context"]["email"].startswith("hmac:")


@pytest.mark.parametrize(
    ("query", "field", "detail"),
    [
        ({"to": "2026-11-02"}, "from", "from: required (YYYY-MM-DD)"),
        ({"from": "yesterday", "to": "2026-11-02"}, "from", "from: 'yesterday' is not a date (YYYY-MM-DD)"),
        ({"from": "2026-11-02"}, "to", "to: required (YYYY-MM-DD)"),
        ({"from": "2026-11-03", "to": "2026-11-02"}, "to", "to: must not be before from"),
        ({"from": "2024-01-01", "to": "2026-11-02"}, "to", "to: at most 366 days from `from` per request"),
    ],
)
def test_bad_dates_are_400_naming_the_parameter(query, field, detail):
    response = _client(user_in_role("Ops admins")).get(URL, query)
    assert response.status_code == 400 and response.json() == {"field": field, "detail": detail}


def test_deciding_roles_may_not_export_and_a_key_needs_the_export_scope():
    query = {"from": "2026-11-02", "to": "2026-11-02"}
    assert _client(user_in_role("SDR managers")).get(URL, query).status_code == 403
    auditor = user_in_role("Auditors", username="ava")
    reader = apikey_create(user=auditor, name="SIEM", scopes=["read_actions"]).plain
    exporter = apikey_create(user=auditor, name="SIEM export", scopes=["export_audit"]).plain
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert client.get(URL, query).status_code == 403
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {exporter}")
    assert client.get(URL, query).status_code == 200
