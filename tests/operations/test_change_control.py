"""Change control: controlled configuration changes wait for a second person, then apply."""

from __future__ import annotations

import pytest
from django.urls import reverse

from approvals.models import ProposedAction
from approvals.services import DecisionError, action_approve, action_reject
from operations.change_control import ChangeRefused, change_propose, config_changes_apply
from operations.models import ChangeControl
from sales.demo_playbook import demo_playbook_ensure
from sales.models import PlaybookRule
from tests.factories import UserFactory

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
        action_approve(action_id=action.pk, user=olivia)
    sofia = UserFactory(username="sofia")
    action_approve(action_id=action.pk, user=sofia)
    assert config_changes_apply() == {"executed": 1}
    controlled.refresh_from_db()
    assert controlled.priority == 5
    assert controlled.history.first().history_user == sofia
    assert config_changes_apply() == {}  # applied once


def test_a_rejected_change_never_applies(olivia, controlled):
    action = change_propose(
        model_label="sales.PlaybookRule", object_id=controlled.pk, before={"priority": controlled.priority},
        after={"priority": 1}, risk_note="x", user=olivia, object_repr=str(controlled),
    )  # fmt: skip
    action_reject(action_id=action.pk, user=UserFactory(username="sofia"), reason_code="wrong_action")
    config_changes_apply()
    controlled.refresh_from_db()
    assert controlled.priority != 1


def test_a_change_that_no_longer_validates_fails_with_the_reason(olivia, controlled):
    action = change_propose(
        model_label="sales.PlaybookRule", object_id=controlled.pk, before={"conditions": controlled.conditions},
        after={"conditions": {"score_at_least": 500}}, risk_note="typo", user=olivia,
    )  # fmt: skip
    action_approve(action_id=action.pk, user=UserFactory(username="sofia"))
    assert config_changes_apply() == {"failed": 1}
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
    action_approve(action_id=action.pk, user=UserFactory(username="sofia"))
    config_changes_apply()
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
