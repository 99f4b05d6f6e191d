"""The red team tries change control: an agent that proposes a ``config_change`` itself, to rewrite
any model (itself a superuser, a key, the log) with one approval from whoever decides the domain it
names. ``config_change`` exists only for change control in the admin: the API refuses the kind with
400 naming ``kind``, no other route an agent has stores one, and even an approved change is applied
only to the business fields change control allows (``operations.change_control.CONTROLLED_MODELS``).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from approvals.models import ProposedAction
from audit.models import DecisionLogEntry
from operations.change_control import change_propose
from security.models import ApiKey
from tests.factories import payload_seen
from tests.outbox import outbox_run
from tests.redteam.conftest import Agent

pytestmark = pytest.mark.django_db

RISK = "Routine tuning, nothing to see."


def config_change(agent: Agent, *, model: str, after: dict[str, Any], **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": model, "after": after, "risk_note": RISK}
    if "object_id" in extra:
        payload["object_id"] = extra.pop("object_id")
    return {
        "kind": "config_change",
        "payload": payload,
        "rationale": "Tuning.",
        "confidence": 0.9,
        "idempotency_key": f"redteam:config:{len(agent.sent)}",
        **extra,
    }


def approve_over_http(approver: Any, action_id: int) -> Any:
    """``POST /api/v1/actions/<id>/approve/`` as ``approver`` (as their integration would)."""
    client = APIClient()
    client.force_authenticate(approver)
    body = {"payload_sha256": payload_seen(action_id)}
    return client.post(f"/api/v1/actions/{action_id}/approve/", body, format="json")


def carry_the_attack_through(approver: Any) -> None:
    """Whatever config change got stored is approved by ``approver`` and the apply task runs: the
    attack taken as far as it goes, so a stored row would show up as the damage it does."""
    for action in ProposedAction.objects.filter(kind="config_change", status="pending_approval"):
        approve_over_http(approver, action.pk)
    outbox_run()


def test_it_cannot_make_itself_superuser_with_one_sales_approval(agent, sdr_manager):
    body = config_change(
        agent,
        model="auth.User",
        object_id=agent.user.pk,
        after={"is_superuser": True, "is_staff": True},
        domain="sales",
    )
    agent.sent.append(body)

    response = agent.post("/api/v1/actions/", body)
    carry_the_attack_through(sdr_manager)

    agent.user.refresh_from_db()
    assert (agent.user.is_superuser, agent.user.is_staff) == (False, False)
    assert response.status_code == 400, response.json()
    error = response.json()
    assert error["field"] == "kind" and error["code"] == "invalid_kind"
    assert "change control" in error["detail"]
    assert not ProposedAction.objects.filter(kind="config_change").exists()


@pytest.mark.parametrize(
    ("model", "after", "object_id"),
    [
        ("auth.User", {"username": "backdoor", "is_superuser": True, "is_staff": True}, None),
        ("auth.Group", {"name": "Ops admins"}, None),
        ("auth.Permission", {"name": "x", "codename": "x", "content_type": 1}, None),
        ("security.ApiKey", {"name": "mine", "scopes": ["export_audit", "decide_actions"]}, None),
        ("security.ApiKey", {"scopes": ["export_audit", "decide_actions"]}, "own-key"),
        ("audit.DecisionLogEntry", {"actor": "someone else"}, 1),
        ("sales.PlaybookRule", {"priority": 1}, 1),
        ("scoring.ModelVersion", {"status": "champion"}, 1),
    ],
)
@pytest.mark.parametrize("domain", ["sales", "support", "operations", None])
def test_it_cannot_propose_any_config_change_over_the_api(
    agent, sdr_manager, model, after, object_id, domain
):
    users, keys, groups, permissions = (
        get_user_model().objects.count(),
        ApiKey.objects.count(),
        Group.objects.count(),
        Permission.objects.count(),
    )
    scopes = sorted(agent.key.scopes)
    extra: dict[str, Any] = {} if domain is None else {"domain": domain}
    if object_id is not None:
        extra["object_id"] = agent.key.pk if object_id == "own-key" else object_id
    body = config_change(agent, model=model, after=after, **extra)
    agent.sent.append(body)

    response = agent.post("/api/v1/actions/", body)
    carry_the_attack_through(sdr_manager)

    assert response.status_code == 400, response.json()
    assert response.json()["field"] == "kind"
    assert not ProposedAction.objects.filter(kind="config_change").exists()
    agent.key.refresh_from_db()
    assert sorted(agent.key.scopes) == scopes
    assert (
        get_user_model().objects.count(),
        ApiKey.objects.count(),
        Group.objects.count(),
        Permission.objects.count(),
    ) == (users, keys, groups, permissions)


def test_no_other_route_an_agent_has_stores_or_edits_a_config_change(agent, ops_admin, sdr_manager):
    # A real change-control proposal by an ops admin is waiting: the agent tries to rewrite it too.
    from sales.demo_playbook import demo_playbook_ensure
    from sales.models import PlaybookRule

    demo_playbook_ensure()
    rule = PlaybookRule.objects.order_by("priority").first()
    legit = change_propose(
        model_label="sales.PlaybookRule", object_id=rule.pk, before={"priority": rule.priority},
        after={"priority": rule.priority + 1}, risk_note="Later.", user=ops_admin, object_repr=str(rule),
    )  # fmt: skip
    escalate = config_change(
        agent, model="auth.User", object_id=agent.user.pk, after={"is_superuser": True}, domain="sales"
    )
    edits = {
        "payload_sha256": payload_seen(legit.pk),
        "edits": {"model": "auth.User", "object_id": agent.user.pk, "after": {"is_superuser": True}},
    }
    answers = {
        "actions.json": agent.post("/api/v1/actions.json", escalate),
        "leads/bulk": agent.post("/api/v1/leads/bulk/", {"leads": [escalate]}),
        "consent": agent.post("/api/v1/consent/", escalate),
        "surveys": agent.post("/api/v1/support/surveys/", escalate),
        "approve with edits": agent.post(f"/api/v1/actions/{legit.pk}/approve/", edits),
        "reject": agent.post(f"/api/v1/actions/{legit.pk}/reject/", {"reason_code": "wrong_action"}),
    }

    assert {name: r.status_code for name, r in answers.items()} == {
        "actions.json": 404,
        "leads/bulk": 400,
        "consent": 400,
        "surveys": 403,
        "approve with edits": 403,
        "reject": 403,
    }
    assert list(ProposedAction.objects.filter(kind="config_change")) == [legit]
    legit.refresh_from_db()
    assert legit.status == "pending_approval"
    assert legit.payload["model"] == "sales.PlaybookRule"
    carry_the_attack_through(sdr_manager)  # an SDR manager does not decide operations changes
    legit.refresh_from_db()
    assert legit.status == "pending_approval"
    agent.user.refresh_from_db()
    assert not agent.user.is_superuser


def test_an_approver_cannot_rewrite_a_change_into_another_one_while_approving(ops_admin):
    """Four-eyes means the change applied is the one proposed: an edit at approval would be a change
    only the approver saw, so a config change is approved or rejected as proposed."""
    from approvals.services import DecisionError, action_approve
    from sales.demo_playbook import demo_playbook_ensure
    from sales.models import PlaybookRule
    from tests.factories import user_in_role

    demo_playbook_ensure()
    rule = PlaybookRule.objects.order_by("priority").first()
    legit = change_propose(
        model_label="sales.PlaybookRule", object_id=rule.pk, before={"priority": rule.priority},
        after={"priority": rule.priority + 1}, risk_note="Later.", user=ops_admin, object_repr=str(rule),
    )  # fmt: skip
    other_admin = user_in_role("Ops admins", username="ops-admin-2")

    with pytest.raises(DecisionError) as refused:
        action_approve(
            action_id=legit.pk,
            user=other_admin,
            seen_payload_sha256=payload_seen(legit.pk),
            edits={"model": "auth.User", "object_id": other_admin.pk, "after": {"is_superuser": True}},
        )

    assert refused.value.code == "invalid_edit"
    legit.refresh_from_db()
    assert legit.status == "pending_approval" and legit.payload["model"] == "sales.PlaybookRule"
    outbox_run()
    other_admin.refresh_from_db()
    assert not other_admin.is_superuser


def test_the_log_keeps_no_trace_of_a_refused_proposal(agent):
    entries = DecisionLogEntry.objects.count()
    body = config_change(agent, model="auth.User", object_id=agent.user.pk, after={"is_superuser": True})
    agent.sent.append(body)
    assert agent.post("/api/v1/actions/", body).status_code == 400
    assert DecisionLogEntry.objects.count() == entries
