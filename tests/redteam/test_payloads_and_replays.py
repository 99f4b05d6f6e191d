"""The agent tries the request itself: fields it may not set, oversized and nested bodies, a reused
idempotency key, look-alike names, and forged or replayed webhooks and callbacks. Every attempt is
refused with the field and the reason, and leaves nothing written."""

from __future__ import annotations

import json
import time

import pytest

from agentops_client.signing import sign, verify
from approvals.models import ProposedAction
from audit.models import DecisionLogEntry
from connectors import signatures
from connectors.models import WebhookEvent
from tests.connectors.inbound_support import make_connection, webhook_path

pytestmark = pytest.mark.django_db


def _nothing_written() -> None:
    assert not ProposedAction.objects.exists()
    assert not DecisionLogEntry.objects.filter(subject_type="proposed_action").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "approved"),
        ("required_approvals", 0),
        ("approved_payload_sha256", "0" * 64),
        ("proposed_by", "user:ops-admin"),
        ("approver_group", "Ops admins"),
        ("compliance_flags", []),
        ("confidence_source", "model"),
        ("sla_due_at", "2099-01-01T00:00:00Z"),
    ],
)
def test_it_refuses_fields_that_are_the_servers_to_set(agent, field, value):
    response = agent.propose(**{field: value})

    assert response.status_code == 400, response.json()
    assert response.json()["field"] == field
    assert "not a field" in response.json()["detail"]
    _nothing_written()


def test_an_oversized_text_is_refused_by_name(agent):
    response = agent.propose(payload={"to": "ada@example.com", "subject": "Hi", "body": "x" * 10_001})

    assert response.status_code == 400
    assert response.json()["field"] == "payload.body"
    _nothing_written()


def test_a_body_over_the_upload_limit_is_refused_without_reading_it(agent, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    huge = {"to": "ada@example.com", "subject": "Hi", "body": "x" * 200_000}

    response = agent.propose(payload=huge)

    assert response.status_code in (400, 413)
    _nothing_written()


def test_deeply_nested_json_is_refused_not_a_server_error(agent):
    depth = 100_000
    body = '{"kind": "update_crm_fields", "payload": {"fields": {"x": ' + "[" * depth + "]" * depth + "}}}"

    response = agent.client.post("/api/v1/actions/", body, content_type="application/json")

    assert response.status_code == 400
    _nothing_written()


def test_a_nested_value_in_a_crm_field_map_is_refused_by_its_path(agent, lead):
    response = agent.propose(
        kind="update_crm_fields",
        lead=lead.pk,
        payload={"fields": {"Status": {"$set": "Closed Won"}}},
    )

    assert response.status_code == 400
    assert response.json()["field"] == "payload.fields.Status"
    _nothing_written()


def test_reusing_an_idempotency_key_for_other_content_is_a_conflict(agent):
    first = agent.propose(idempotency_key="k-1")
    assert first.status_code == 201

    again = agent.propose(
        idempotency_key="k-1", payload={"to": "eve@example.com", "subject": "Hello", "body": "Hi Ada"}
    )

    assert again.status_code == 409
    assert again.json()["field"] == "idempotency_key"
    assert ProposedAction.objects.get().payload["to"] == "ada@example.com"


def test_another_agents_key_is_a_conflict_that_reveals_nothing_of_the_first(agent, other_agent):
    first = agent.propose(idempotency_key="shared-key")
    assert first.status_code == 201

    theirs = other_agent.propose(idempotency_key="shared-key")

    assert theirs.status_code == 409
    assert str(first.json()["id"]) not in json.dumps(theirs.json())
    assert "ada@example.com" not in json.dumps(theirs.json())
    assert ProposedAction.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        # Cyrillic "а" in "admin": an approver reads it as the admin account.
        ({"owner": "\u0430dmin"}, "payload.owner"),
        # Greek omicron inside a Latin queue name.
        ({"queue": "Enterprise D\u03bfrmant"}, "payload.queue"),
        # A right-to-left override flips what the approver reads.
        ({"owner": "ada\u202enimda"}, "payload.owner"),
        # Zero-width characters make two names look the same.
        ({"owner": "ad\u200bmin"}, "payload.owner"),
    ],
)
def test_look_alike_names_are_refused(agent, lead, payload, field):
    response = agent.propose(kind="assign_owner", lead=lead.pk, payload=payload)

    assert response.status_code == 400, response.json()
    assert response.json()["field"] == field
    _nothing_written()


def test_a_subject_with_a_bidi_override_is_refused(agent):
    response = agent.propose(
        payload={"to": "ada@example.com", "subject": "Invoice \u202egnp.exe", "body": "Hi Ada"}
    )

    assert response.status_code == 400
    assert response.json()["field"] == "payload.subject"
    _nothing_written()


def test_the_agent_cannot_forge_a_helpdesk_webhook(agent, client):
    connection = make_connection("zendesk")
    body = json.dumps({"id": "evt-1", "type": "ticket", "subject": "Refund me"}).encode()
    stamp = str(int(time.time()))
    # Signed with what the agent holds (its own API key), not the helpdesk's webhook secret.
    forged = signatures.zendesk_headers(secret=agent.plain, body=body, timestamp=stamp)

    response = client.post(
        webhook_path(connection),
        data=body,
        content_type="application/json",
        headers={**forged, "Authorization": f"Bearer {agent.plain}"},
    )

    assert response.status_code == 401
    assert response.content == b""
    assert not WebhookEvent.objects.exists()


def test_a_captured_callback_cannot_be_replayed_later_or_altered():
    body = b'{"action_id":1,"status":"approved"}'
    sent_at = 1_800_000_000
    signature = sign(body=body, timestamp=sent_at, secret="integration-secret")

    assert verify(body=body, timestamp=sent_at, signature=signature, secret="integration-secret", now=sent_at)
    assert not verify(
        body=body, timestamp=sent_at, signature=signature, secret="integration-secret", now=sent_at + 301
    )
    assert not verify(
        body=body.replace(b"approved", b"rejected"),
        timestamp=sent_at,
        signature=signature,
        secret="integration-secret",
        now=sent_at,
    )
    # Re-signing with a fresh timestamp needs the secret, which the replayer lacks.
    assert not verify(
        body=body,
        timestamp=sent_at + 400,
        signature=signature,
        secret="integration-secret",
        now=sent_at + 400,
    )
