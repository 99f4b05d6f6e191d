"""Change control: controlled configuration changes wait for a second person, then apply."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import Decision, ProposedAction
from approvals.services import DecisionError, action_approve, action_reject, payload_sha256
from connectors.models import ActionExecution
from operations.change_control import (
    CONTROLLED_MODELS,
    ChangeRefused,
    Controlled,
    change_propose,
)
from operations.models import ChangeControl
from operations.services import kill_switch_set
from sales.demo_playbook import demo_playbook_ensure
from sales.models import PlaybookRule
from tests.factories import ProposedActionFactory, UserFactory, payload_seen
from tests.outbox import outbox_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def controlled():
    ChangeControl.objects.update_or_create(
        model_label="sales.PlaybookRule", defaults={"requires_second_person": True}
    )
    demo_playbook_ensure()
    return PlaybookRule.objects.order_by("priority").first()


@pytest.fixture
def olivia(client):
    user = UserFactory(username="olivia", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def edit_rule_in_admin(client, rule, **changes):
    url = reverse("admin:sales_playbookrule_change", args=[rule.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data.update({k: v for k, v in changes.items()})
    for name in ("conditions", "actions"):
        if not isinstance(data[name], str):
            import json

            data[name] = json.dumps(data[name])
    data = {k: ("on" if v is True else v) for k, v in data.items() if v not in (False, None)}
    return client.post(url, data)


def test_an_admin_edit_of_a_controlled_rule_becomes_a_proposal_not_a_change(client, olivia, controlled):
    before = controlled.conditions
    response = edit_rule_in_admin(
        client,
        controlled,
        conditions='{"score_at_least": 90, "uncontacted": true}',
        risk_note="Fewer leads; watch volume.",
    )
    assert response.status_code == 302
    controlled.refresh_from_db()
    assert controlled.conditions == before  # nothing changed yet
    action = ProposedAction.objects.get(kind="config_change")
    assert action.status == "pending_approval"  # always a person, never auto-approved
    assert action.payload["after"] == {"conditions": {"score_at_least": 90, "uncontacted": True}}
    assert action.payload["before"] == {"conditions": before}
    assert action.payload["risk_note"] == "Fewer leads; watch volume."
    assert action.proposed_by_user == olivia


def test_the_form_requires_a_risk_note(client, olivia, controlled):
    response = edit_rule_in_admin(client, controlled, priority=11, risk_note="")
    assert response.status_code == 200  # the form again, with the error
    assert "risk_note" in response.context["adminform"].form.errors
    assert not ProposedAction.objects.exists()


def test_the_proposer_cannot_approve_and_a_second_person_applies_it(client, olivia, controlled):
    edit_rule_in_admin(client, controlled, priority=5, risk_note="Runs first now.")
    action = ProposedAction.objects.get(kind="config_change")
    with pytest.raises(DecisionError):
        action_approve(action_id=action.pk, user=olivia, seen_payload_sha256=payload_seen(action.pk))
    sofia = UserFactory(username="sofia")
    action_approve(action_id=action.pk, user=sofia, seen_payload_sha256=payload_seen(action.pk))
    assert outbox_run() == {"executed": 1}
    controlled.refresh_from_db()
    assert controlled.priority == 5
    assert controlled.history.first().history_user == sofia
    assert outbox_run() == {}  # applied once


def test_a_rejected_change_never_applies(olivia, controlled):
    action = change_propose(
        model_label="sales.PlaybookRule", object_id=controlled.pk, before={"priority": controlled.priority},
        after={"priority": 1}, risk_note="x", user=olivia, object_repr=str(controlled),
    )  # fmt: skip
    action_reject(action_id=action.pk, user=UserFactory(username="sofia"), reason_code="wrong_action")
    outbox_run()
    controlled.refresh_from_db()
    assert controlled.priority != 1


def test_a_change_that_no_longer_validates_fails_with_the_reason(olivia, controlled):
    action = change_propose(
        model_label="sales.PlaybookRule", object_id=controlled.pk, before={"conditions": controlled.conditions},
        after={"conditions": {"score_at_least": 500}}, risk_note="typo", user=olivia,
    )  # fmt: skip
    action_approve(
        action_id=action.pk, user=UserFactory(username="sofia"), seen_payload_sha256=payload_seen(action.pk)
    )
    assert outbox_run() == {"failed": 1}
    action.refresh_from_db()
    assert action.status == "failed"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model_label": "auth.User"}, "model"),
        ({"risk_note": "  "}, "risk_note"),
        ({"after": {"priority": 10}}, "changes"),
    ],
)
def test_bad_proposals_are_refused_naming_the_field(olivia, controlled, kwargs, field):
    values = {
        "model_label": "sales.PlaybookRule", "object_id": controlled.pk, "before": {"priority": 10},
        "after": {"priority": 3}, "risk_note": "r", "user": olivia, **kwargs,
    }  # fmt: skip
    with pytest.raises(ChangeRefused) as caught:
        change_propose(**values)
    assert caught.value.field == field


def test_uncontrolled_edits_save_directly(client, olivia):
    demo_playbook_ensure()
    rule = PlaybookRule.objects.order_by("priority").first()
    edit_rule_in_admin(client, rule, priority=7)
    rule.refresh_from_db()
    assert rule.priority == 7
    assert not ProposedAction.objects.exists()


def test_the_change_log_shows_who_what_and_when(client, olivia, controlled):
    edit_rule_in_admin(client, controlled, priority=5, risk_note="Runs first now.")
    action = ProposedAction.objects.get(kind="config_change")
    action_approve(
        action_id=action.pk, user=UserFactory(username="sofia"), seen_payload_sha256=payload_seen(action.pk)
    )
    outbox_run()
    page = client.get(reverse("change-log")).content.decode()
    assert f'data-change="{action.pk}"' in page
    assert "olivia" in page and "Approved by sofia" in page
    assert "<code>priority</code>: <del>10</del> → <ins>5</ins>" in page
    assert "Runs first now." in page and "applied" in page


def test_a_controlled_model_promotion_asks_for_a_risk_note_and_proposes(client, olivia):
    from scoring.models import ModelVersion

    ChangeControl.objects.update_or_create(
        model_label="scoring.ModelVersion", defaults={"requires_second_person": True}
    )
    version = ModelVersion.objects.create(kind="lead_score", name="m", version=1, status="candidate")
    url = reverse("admin:scoring_modelversion_changelist")
    page = client.post(url, {"action": "promote_champion", "_selected_action": [version.pk]})
    assert page.status_code == 200 and b"Risk note" in page.content
    client.post(
        url,
        {
            "action": "promote_champion",
            "_selected_action": [version.pk],
            "confirm": "yes",
            "risk_note": "AUC up 2 points",
        },
    )
    version.refresh_from_db()
    assert version.status == "candidate"
    action = ProposedAction.objects.get(kind="config_change")
    assert action.payload["after"] == {"status": "champion"}


# --- Only controlled models, only their allowed fields, only the change-control way --------------


def _failure_reason(action) -> str:
    from audit.models import DecisionLogEntry

    entry = DecisionLogEntry.objects.filter(
        subject_type="proposed_action", subject_id=str(action.pk), action_taken__to="failed"
    ).get()
    return entry.action_taken["reason"]


def _approved_then_rewritten(olivia, controlled, payload):
    """A genuine change, approved by a second person, whose stored payload is then something else
    (as if stored by any other path): what ``config_changes_execute`` must refuse on its own."""
    action = change_propose(
        model_label="sales.PlaybookRule", object_id=controlled.pk, before={"priority": controlled.priority},
        after={"priority": 1}, risk_note="r", user=olivia, object_repr=str(controlled),
    )  # fmt: skip
    action_approve(
        action_id=action.pk, user=UserFactory(username="sofia"), seen_payload_sha256=payload_seen(action.pk)
    )
    ProposedAction.objects.filter(pk=action.pk).update(payload={**action.payload, **payload})
    return action


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"model": "auth.User", "after": {"is_superuser": True}}, "auth.User can never be changed"),
        ({"model": "auth.Group", "object_id": None, "after": {"name": "x"}}, "auth.Group can never"),
        (
            {"model": "auth.Permission", "object_id": None, "after": {"codename": "x", "name": "x"}},
            "auth.Permission can never",
        ),
        (
            {"model": "security.ApiKey", "object_id": None, "after": {"name": "k"}},
            "security.ApiKey can never",
        ),
        ({"model": "audit.DecisionLogEntry", "after": {"actor": "x"}}, "audit.DecisionLogEntry can never"),
        (
            {"model": "contenttypes.ContentType", "after": {"model": "x"}},
            "contenttypes.ContentType can never",
        ),
        ({"model": "sales.Lead", "after": {"email": "x@example.com"}}, "sales.Lead cannot be put under"),
        ({"after": {"id": 999}}, "changes.id: not a field change control may set on playbook rules"),
        ({"after": {"created_at": "2020-01-01T00:00:00Z"}}, "changes.created_at: not a field"),
        ({"after": {"priority": 1, "updated_at": "2020-01-01T00:00:00Z"}}, "changes.updated_at"),
        ({"model": "operations.Quota", "after": {"created_by": 1}}, "changes.created_by: not a field"),
        ({"model": "approvals.ApprovalPolicy", "after": {"id": 1}}, "changes.id: not a field"),
        ({"after": {}}, "after: names no field to change"),
        ({"object_id": "1 OR 1=1"}, "object_id: must be a row id"),
    ],
)
def test_an_approved_change_outside_the_allow_lists_fails_with_the_reason(
    olivia, controlled, payload, reason
):
    from django.contrib.auth.models import Group, Permission

    from security.models import ApiKey

    counts = (Group.objects.count(), Permission.objects.count(), ApiKey.objects.count())
    action = _approved_then_rewritten(olivia, controlled, {"object_id": olivia.pk, **payload})

    assert outbox_run() == {"failed": 1}

    action.refresh_from_db()
    assert action.status == "failed"
    assert reason in _failure_reason(action)
    olivia.refresh_from_db()
    controlled.refresh_from_db()
    assert controlled.priority != 1
    assert (Group.objects.count(), Permission.objects.count(), ApiKey.objects.count()) == counts


def test_a_config_change_stored_outside_change_control_is_never_applied(olivia):
    """The hole as it was: an agent's config_change in the sales domain, approved by an SDR manager."""
    agent = UserFactory(username="agent-bot")
    payload = {"model": "auth.User", "object_id": agent.pk, "after": {"is_superuser": True}, "risk_note": "r"}
    action = ProposedActionFactory(
        kind="config_change", domain="sales", lead=None, status="approved", payload=payload,
        approved_payload_sha256=payload_sha256(payload), proposed_by="api:agent-bot", proposed_by_user=agent,
    )  # fmt: skip
    Decision.objects.create(
        action=action, outcome="approve", decided_by=olivia, payload_sha256=payload_sha256(payload)
    )

    assert outbox_run() == {"failed": 1}

    action.refresh_from_db()
    agent.refresh_from_db()
    assert (action.status, agent.is_superuser) == ("failed", False)
    assert "decided in the operations domain, not sales" in _failure_reason(action)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"proposed_by": "api:agent-bot"}, "proposed by a person in the admin"),
        ({"proposed_by_user": None}, "proposed by a person in the admin"),
    ],
)
def test_a_change_not_proposed_by_a_person_in_the_admin_is_never_applied(olivia, controlled, changes, reason):
    action = _approved_then_rewritten(olivia, controlled, {})
    ProposedAction.objects.filter(pk=action.pk).update(**changes)
    assert outbox_run() == {"failed": 1}
    assert reason in _failure_reason(action)
    controlled.refresh_from_db()
    assert controlled.priority != 1


def test_a_change_approved_by_its_own_proposer_is_never_applied(olivia, controlled):
    action = _approved_then_rewritten(olivia, controlled, {})
    action.decisions.update(decided_by=olivia)
    assert outbox_run() == {"failed": 1}
    assert "approved by a person other than its proposer" in _failure_reason(action)


def test_the_deny_list_wins_even_if_someone_adds_a_user_model_to_the_allow_list(
    olivia, controlled, monkeypatch
):
    monkeypatch.setitem(CONTROLLED_MODELS, "auth.User", Controlled("Users", frozenset({"is_superuser"})))
    with pytest.raises(ChangeRefused) as caught:
        change_propose(
            model_label="auth.User", object_id=olivia.pk, before={"is_superuser": False},
            after={"is_superuser": True}, risk_note="r", user=olivia,
        )  # fmt: skip
    assert (caught.value.field, caught.value.reason) == (
        "model",
        "auth.User can never be changed through change control",
    )
    victim = UserFactory(username="victim")
    action = _approved_then_rewritten(
        olivia, controlled, {"model": "auth.User", "object_id": victim.pk, "after": {"is_superuser": True}}
    )
    assert outbox_run() == {"failed": 1}
    victim.refresh_from_db()
    assert not victim.is_superuser
    assert "can never be changed" in _failure_reason(action)


def test_a_proposal_naming_a_field_outside_the_allow_list_is_refused_naming_it(olivia, controlled):
    with pytest.raises(ChangeRefused) as caught:
        change_propose(
            model_label="sales.PlaybookRule", object_id=controlled.pk, before={},
            after={"priority": 3, "created_at": "2020-01-01T00:00:00Z"}, risk_note="r", user=olivia,
        )  # fmt: skip
    assert caught.value.field == "changes.created_at"
    assert not ProposedAction.objects.exists()


def test_every_field_a_controlled_admin_form_edits_is_one_change_control_may_set(rf, olivia):
    """The allow-lists and the admin forms stay in step: a field the form offers but change control
    refused would make that edit impossible once the model is controlled."""
    from django.apps import apps
    from django.contrib import admin

    request = rf.get("/admin/")
    request.user = olivia
    for label, controlled_model in CONTROLLED_MODELS.items():
        model = apps.get_model(label)
        model_admin = admin.site._registry[model]
        if label == "scoring.ModelVersion":
            continue  # promoted through admin actions (status, canary share), not edited in a form
        form = model_admin.get_form(request, obj=None)
        editable = set(form.base_fields) - {"risk_note"}
        assert editable <= controlled_model.fields, (label, sorted(editable - controlled_model.fields))


# --- Kill switches hold configuration changes ----------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "target"), [("global", ""), ("config_changes", ""), ("action_kind", "config_change")]
)
def test_an_engaged_kill_switch_holds_approved_changes_until_it_is_released(
    olivia, controlled, caplog, scope, target
):
    action = change_propose(
        model_label="sales.PlaybookRule", object_id=controlled.pk, before={"priority": controlled.priority},
        after={"priority": 1}, risk_note="r", user=olivia, object_repr=str(controlled),
    )  # fmt: skip
    action_approve(
        action_id=action.pk, user=UserFactory(username="sofia"), seen_payload_sha256=payload_seen(action.pk)
    )
    kill_switch_set(scope=scope, target=target, engaged=True, actor="olivia", reason="incident 7")

    with caplog.at_level("WARNING", logger="operations.change_control"):
        assert outbox_run() == {"held": 1}

    action.refresh_from_db()
    controlled.refresh_from_db()
    assert (action.status, controlled.priority) == ("approved", controlled.priority)
    assert controlled.priority != 1
    assert "held: kill switch on" in caplog.text and "incident 7" in caplog.text

    kill_switch_set(scope=scope, target=target, engaged=False, actor="olivia", reason="resolved")
    ActionExecution.objects.update(due_at=timezone.now())  # the held change's next look comes
    assert outbox_run() == {"executed": 1}
    controlled.refresh_from_db()
    assert controlled.priority == 1


def test_a_switch_on_one_connection_or_another_kind_does_not_hold_config_changes(olivia, controlled):
    action = change_propose(
        model_label="sales.PlaybookRule", object_id=controlled.pk, before={"priority": controlled.priority},
        after={"priority": 1}, risk_note="r", user=olivia, object_repr=str(controlled),
    )  # fmt: skip
    action_approve(
        action_id=action.pk, user=UserFactory(username="sofia"), seen_payload_sha256=payload_seen(action.pk)
    )
    kill_switch_set(scope="connector", target="HubSpot prod", engaged=True, actor="olivia", reason="429")
    kill_switch_set(scope="action_kind", target="send_email", engaged=True, actor="olivia", reason="bounces")
    kill_switch_set(scope="callbacks", engaged=True, actor="olivia", reason="receiver down")
    assert outbox_run() == {"executed": 1}
