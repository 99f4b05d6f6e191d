"""POST /api/v1/actions/: any agent proposes a tool call; the schema, the policy and four-eyes apply."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from approvals.models import ApprovalPolicy, ProposedAction
from audit.models import DecisionLogEntry
from tests.factories import LeadFactory, ProposedActionFactory, TicketFactory, payload_seen, user_in_role

pytestmark = pytest.mark.django_db

EMAIL = {"to": "ada@example.com", "subject": "Quick question", "body": "Hi Ada, …"}


def _client(username="bot", *codenames):
    # Proposing needs the permission; seeing and deciding follow the role (security.roles).
    if "change_proposedaction" in codenames:
        user = user_in_role("SDR managers", username=username)
    elif "add_proposedaction" in codenames:
        user = user_in_role("Integration accounts", username=username)
    else:  # a reader: sees every domain, proposes and decides nothing
        user = user_in_role("Auditors", username=username)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def integrator():
    return _client("bot", "add_proposedaction")


def _submit(client, **overrides):
    body = {
        "kind": "send_email",
        "payload": EMAIL,
        "rationale": "Asked for a demo on the pricing page.",
        "confidence": 0.82,
        "idempotency_key": "bot:email:1",
        **overrides,
    }
    return client.post("/api/v1/actions/", body, format="json")


def test_it_stores_a_proposal_routes_it_and_answers_where_to_poll(integrator):
    response = _submit(integrator)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["required_approvals"], body["domain"]) == ("pending_approval", 1, "sales")
    assert body["policy_reasons"] and body["proposed_by"] == "api:bot"
    assert body["url"].endswith(f"/api/v1/actions/{body['id']}/") and response["Location"] == body["url"]
    action = ProposedAction.objects.get(pk=body["id"])
    assert action.proposed_by_user.username == "bot" and action.payload == EMAIL
    logged = DecisionLogEntry.objects.filter(subject_type="proposed_action", subject_id=str(action.pk))
    assert sorted(logged.values_list("event_type", flat=True)) == ["action.proposed", "action.transitioned"]


def test_the_policy_may_approve_or_block_it_at_once(integrator):
    lookup = _submit(
        integrator, kind="account_lookup", payload={"email": "ada@example.com"}, idempotency_key="l"
    )
    assert lookup.status_code == 201 and lookup.json()["status"] == "approved"
    assert lookup.json()["approved_payload_sha256"]
    ApprovalPolicy.objects.create(name="No outbound email from bots", outcome="block", kinds=["send_email"])
    blocked = _submit(integrator, idempotency_key="blocked")
    assert blocked.json()["status"] == "rejected"
    assert "No outbound email from bots" in blocked.json()["decisions"][0]["comment"]


def test_repeating_the_idempotency_key_answers_with_the_same_action(integrator):
    first = _submit(integrator)
    again = _submit(integrator)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert ProposedAction.objects.count() == 1


def test_repeating_a_key_after_an_approver_edit_still_answers_with_the_action(integrator):
    first = _submit(integrator).json()
    approver = _client("sofia", "change_proposedaction")
    edited = approver.post(
        f"/api/v1/actions/{first['id']}/approve/",
        {"payload_sha256": first["payload_sha256"], "edits": {"subject": "Better subject"}},
        format="json",
    )
    assert edited.status_code == 200, edited.json()
    again = _submit(integrator)
    assert again.status_code == 200 and again.json()["payload"]["subject"] == "Better subject"


def test_reusing_a_key_for_other_content_or_by_someone_else_is_409(integrator):
    _submit(integrator)
    changed = _submit(integrator, payload={**EMAIL, "subject": "Other"})
    assert changed.status_code == 409
    assert changed.json() == {
        "code": "idempotency_conflict",
        "field": "idempotency_key",
        "detail": "idempotency_key: already used for a different proposal; use a new key",
    }
    other = _submit(_client("other-bot", "add_proposedaction"))
    assert other.status_code == 409 and "payload" not in other.json()


@pytest.mark.parametrize(
    ("overrides", "field", "detail"),
    [
        ({"kind": "delete_account"}, "kind", '"delete_account" is not a valid choice.'),
        (
            {"payload": {"to": "ada@example.com", "body": "Hi"}},
            "payload.subject",
            "payload.subject: is required",
        ),
        ({"payload": {**EMAIL, "bcc": "boss@example.com"}}, "payload.bcc", "not a field of send_email"),
        ({"payload": {**EMAIL, "body": "x" * 10_001}}, "payload.body", "at most 10000 characters"),
        ({"payload": {**EMAIL, "to": "nobody"}}, "payload.to", "must be an email address"),
        ({"payload": "send it"}, "payload", "payload: must be an object, got string"),
        ({"rationale": ""}, "rationale", "rationale: This field may not be blank."),
        ({"confidence": 1.5}, "confidence", "confidence: Ensure this value is less than or equal to 1."),
        ({"idempotency_key": "k" * 129}, "idempotency_key", "no more than 128 characters"),
        ({"risk_level": "extreme"}, "risk_level", "not a valid choice"),
        ({"lead": "42"}, "lead", 'lead: must be an id or {"source": …, "external_id": …}'),
        ({"lead": 999_999}, "lead", "lead: no lead 999999"),
        ({"lead": {"source": "hubspot", "external_id": "nope"}}, "lead", "no lead ('hubspot', 'nope')"),
        ({"callback_url": "ftp://hooks.example.com/x"}, "callback_url", "must be an http or https URL"),
        ({"domain": "finance"}, "domain", "not a valid choice"),
    ],
)
def test_a_bad_proposal_is_400_naming_the_field_and_writes_nothing(integrator, overrides, field, detail):
    response = _submit(integrator, **overrides)
    assert response.status_code == 400, response.json()
    assert response.json()["field"] == field
    assert detail in response.json()["detail"]
    assert ProposedAction.objects.count() == 0 and DecisionLogEntry.objects.count() == 0


def test_a_body_that_is_not_an_object_is_400(integrator):
    response = integrator.post("/api/v1/actions/", [1, 2], format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_it_names_the_target_by_id_or_by_its_external_id_and_takes_the_domain_from_it(integrator):
    # The email goes to the lead's own address: an email to anyone else is refused (approvals.targets).
    lead = LeadFactory(source="hubspot", external_id="5012", email="ada@example.com")
    by_ref = _submit(integrator, lead={"source": "hubspot", "external_id": "5012"}, idempotency_key="a")
    assert by_ref.status_code == 201 and by_ref.json()["lead"] == lead.pk
    ticket = TicketFactory()
    reply = _submit(
        integrator,
        kind="post_public_reply",
        payload={"body": "Try this."},
        ticket=ticket.pk,
        idempotency_key="b",
    )
    assert (reply.json()["ticket"], reply.json()["domain"]) == (ticket.pk, "support")
    both = _submit(integrator, lead=lead.pk, ticket=ticket.pk, idempotency_key="c")
    assert both.status_code == 400 and both.json()["field"] == "ticket"


def test_a_callback_url_is_kept_when_callbacks_are_enabled_and_refused_otherwise(settings, monkeypatch):
    import socket

    from security.services import apikey_create

    # hooks.example.com resolves to a public address (no real DNS in tests).
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, port, *a, **k: [(2, 1, 6, "", ("93.184.216.34", port))]
    )
    bot = user_in_role("Integration accounts", username="bot")
    key = apikey_create(user=bot, name="bot", scopes=["submit_actions"])
    integrator = APIClient()
    integrator.force_authenticate(bot, token=key.key)  # the callback is signed with the key's secret
    settings.AGENTOPS_CALLBACKS = True
    settings.AGENTOPS_CALLBACK_HOSTS = ["hooks.example.com"]
    ok = _submit(integrator, callback_url="https://hooks.example.com/agentops", idempotency_key="a")
    assert ok.status_code == 201
    assert ProposedAction.objects.get(pk=ok.json()["id"]).callback_url == "https://hooks.example.com/agentops"
    elsewhere = _submit(integrator, callback_url="http://10.0.0.5/admin", idempotency_key="b")
    assert elsewhere.status_code == 400 and "not in AGENTOPS_CALLBACK_HOSTS" in elsewhere.json()["detail"]
    settings.AGENTOPS_CALLBACKS = False
    off = _submit(integrator, callback_url="https://hooks.example.com/agentops", idempotency_key="c")
    assert off.status_code == 400 and off.json()["code"] == "callbacks_disabled"
    settings.AGENTOPS_CALLBACKS = True
    session = _client("session-bot", "add_proposedaction")
    keyless = _submit(session, callback_url="https://hooks.example.com/agentops", idempotency_key="d")
    assert keyless.status_code == 400 and keyless.json()["code"] == "callback_needs_api_key"


def test_proposing_needs_the_add_permission():
    assert APIClient().post("/api/v1/actions/", {}, format="json").status_code in (401, 403)
    response = _submit(_client("reader"))
    assert response.status_code == 403 and "approvals.add_proposedaction" in response.json()["detail"]


def test_the_proposer_cannot_approve_its_own_proposal():
    both = _client("bot", "add_proposedaction", "change_proposedaction")
    action = _submit(both).json()
    response = both.post(
        f"/api/v1/actions/{action['id']}/approve/",
        {"payload_sha256": action["payload_sha256"]},
        format="json",
    )
    assert response.status_code == 403 and response.json()["code"] == "self_approval"


def test_an_edit_over_the_api_must_fit_the_schema(integrator):
    action_id = _submit(integrator).json()["id"]
    approver = _client("sofia", "change_proposedaction")
    seen = approver.get(f"/api/v1/actions/{action_id}/").json()["payload_sha256"]
    too_long = approver.post(
        f"/api/v1/actions/{action_id}/approve/",
        {"payload_sha256": seen, "edits": {"body": "x" * 10_001}},
        format="json",
    )
    assert too_long.status_code == 400
    assert too_long.json() == {
        "code": "invalid_edit",
        "detail": "payload.body: at most 10000 characters, got 10001",
    }
    ok = approver.post(
        f"/api/v1/actions/{action_id}/approve/",
        {"payload_sha256": seen, "edits": {"subject": "Re: your demo request"}, "comment": "warmer"},
        format="json",
    )
    assert ok.status_code == 200
    assert ok.json()["decisions"][-1]["payload_diff"] == {
        "subject": {"from": "Quick question", "to": "Re: your demo request"}
    }


def test_it_lists_pending_items_filtered_by_status_domain_kind_risk_rule_and_proposer(integrator):
    mine = _submit(integrator, risk_level="high").json()["id"]
    ProposedActionFactory(matched_rule="Hot and uncontacted", risk_level="low")
    rule = ProposedActionFactory(matched_rule="Warm with open opportunity", kind="add_to_nurture")
    reader = _client("reader")

    def ids(**params):
        return [a["id"] for a in reader.get("/api/v1/actions/", params).json()["results"]]

    assert ids(status="pending_approval") == [mine]
    assert ids(proposed_by="api:bot") == [mine]
    assert ids(kind="send_email", risk_level="high", domain="sales") == [mine]
    assert ids(matched_rule="Warm with open opportunity") == [rule.pk]
    assert ids(kind="add_to_nurture", risk_level="high") == []


def test_one_action_with_its_decisions_is_read_in_constant_queries_whatever_the_query_string(integrator):
    ApprovalPolicy.objects.create(name="Everything twice", outcome="two_approvals")
    action_id = _submit(integrator).json()["id"]
    reader = _client("reader")
    # The client keeps one user object: its role scope is read once, on this first request.
    reader.get(f"/api/v1/actions/{action_id}/")
    with CaptureQueriesContext(connection) as one:
        reader.get(f"/api/v1/actions/{action_id}/")
    for approver in ("sofia", "liam"):
        _client(approver, "change_proposedaction").post(
            f"/api/v1/actions/{action_id}/approve/",
            {"payload_sha256": payload_seen(action_id)},
            format="json",
        )
    with CaptureQueriesContext(connection) as three:
        body = reader.get(f"/api/v1/actions/{action_id}/", {"status": "pending_approval"}).json()
    assert body["status"] == "approved" and [d["decided_by"] for d in body["decisions"]] == ["sofia", "liam"]
    assert len(three.captured_queries) == len(one.captured_queries)
