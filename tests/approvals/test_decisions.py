"""Routing through approval policies and human decisions: four-eyes, quorum, races, the approved hash."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from approvals.models import ApprovalPolicy, Decision, ProposedAction
from approvals.services import (
    DecisionError,
    PayloadNotSeen,
    action_approve,
    action_reject,
    action_route,
    payload_sha256,
)
from audit.models import DecisionLogEntry
from tests.factories import LeadFactory, ProposedActionFactory, UserFactory, payload_seen

pytestmark = pytest.mark.django_db


def _pending(**overrides):
    action = ProposedActionFactory(**overrides)
    return action_route(action_id=action.pk)


def test_a_write_without_a_policy_waits_for_one_approval_with_its_reason():
    action = _pending()
    assert (action.status, action.required_approvals) == ("pending_approval", 1)
    assert "writes need an approval" in action.policy_reasons[0]


def test_a_read_only_action_is_approved_by_the_policy_and_logged():
    action = _pending(kind="account_lookup")
    assert action.status == "approved" and action.approved_payload_sha256
    assert Decision.objects.get(action=action).decided_by is None
    entry = DecisionLogEntry.objects.filter(
        subject_id=str(action.pk), event_type="action.transitioned"
    ).last()
    assert entry.approval["policy"] == "auto"


def test_high_score_and_deal_value_routes_to_two_approvers_of_the_policy_group_with_an_sla():
    group = Group.objects.create(name="Sales directors")
    ApprovalPolicy.objects.create(
        name="Big deals",
        outcome="two_approvals",
        deal_value_at_least=Decimal(50000),
        approver_group=group,
        sla_minutes=90,
    )
    action = _pending(lead=LeadFactory(deal_value=Decimal(80000)))
    assert (action.required_approvals, action.approver_group, action.status) == (2, group, "pending_approval")
    assert action.sla_due_at is not None
    assert any("deal value 80,000" in r for r in action.policy_reasons)


def test_a_blocking_policy_rejects_with_its_reason():
    ApprovalPolicy.objects.create(name="No SMS", outcome="block", kinds=["send_email"])
    action = _pending(kind="send_email")
    assert action.status == "rejected"
    assert "No SMS" in Decision.objects.get(action=action).comment


def test_nobody_approves_what_they_proposed():
    proposer = UserFactory()
    action = _pending(proposed_by_user=proposer)
    with pytest.raises(DecisionError, match="you proposed this action"):
        action_approve(action_id=action.pk, user=proposer, seen_payload_sha256=payload_seen(action.pk))
    assert ProposedAction.objects.get(pk=action.pk).status == "pending_approval"


def test_two_approvals_need_two_different_people():
    ApprovalPolicy.objects.create(name="Everything twice", outcome="two_approvals")
    action = _pending()
    first, second = UserFactory(), UserFactory()
    assert (
        action_approve(action_id=action.pk, user=first, seen_payload_sha256=payload_seen(action.pk)).status
        == "pending_approval"
    )
    with pytest.raises(DecisionError, match="already approved"):
        action_approve(action_id=action.pk, user=first, seen_payload_sha256=payload_seen(action.pk))
    approved = action_approve(action_id=action.pk, user=second, seen_payload_sha256=payload_seen(action.pk))
    assert approved.status == "approved"
    assert (
        DecisionLogEntry.objects.filter(event_type="action.decided", subject_id=str(action.pk)).count() == 2
    )


def test_an_edit_voids_earlier_approvals_and_the_editor_cannot_give_the_second_one():
    ApprovalPolicy.objects.create(name="Everything twice", outcome="two_approvals")
    action = _pending(payload={"cadence": "Inbound hot", "steps": 7})
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    action_approve(action_id=action.pk, user=alice, seen_payload_sha256=payload_seen(action.pk))
    edited = action_approve(
        action_id=action.pk, user=bob, seen_payload_sha256=payload_seen(action.pk), edits={"steps": 5}
    )
    assert edited.status == "pending_approval"  # alice approved other content
    decision = Decision.objects.filter(action=action, decided_by=bob).get()
    assert decision.outcome == "edit_approve" and decision.payload_diff == {"steps": {"from": 7, "to": 5}}
    with pytest.raises(DecisionError, match="already approved"):
        action_approve(action_id=action.pk, user=bob, seen_payload_sha256=payload_seen(action.pk))
    final = action_approve(action_id=action.pk, user=carol, seen_payload_sha256=payload_seen(action.pk))
    assert final.status == "approved" and final.payload["steps"] == 5
    assert final.approved_payload_sha256 == payload_sha256(final.payload)


def test_an_edit_may_not_add_fields_or_change_their_type():
    action = _pending(payload={"cadence": "Inbound hot", "steps": 7})
    with pytest.raises(DecisionError, match=r"payload.owner: not a field"):
        action_approve(
            action_id=action.pk,
            user=UserFactory(),
            seen_payload_sha256=payload_seen(action.pk),
            edits={"owner": "x"},
        )
    with pytest.raises(DecisionError, match=r"payload.steps: must stay a int"):
        action_approve(
            action_id=action.pk,
            user=UserFactory(),
            seen_payload_sha256=payload_seen(action.pk),
            edits={"steps": "five"},
        )
    assert ProposedAction.objects.get(pk=action.pk).payload["steps"] == 7


def test_a_rejection_needs_a_reason_and_is_final():
    action = _pending()
    with pytest.raises(DecisionError, match="reason_code"):
        action_reject(action_id=action.pk, user=UserFactory(), reason_code="")
    decider = UserFactory(username="sofia")
    action_reject(action_id=action.pk, user=decider, reason_code="bad_timing", comment="after the holidays")
    with pytest.raises(DecisionError, match="already rejected \\(decided by sofia\\)"):
        action_approve(action_id=action.pk, user=UserFactory(), seen_payload_sha256=payload_seen(action.pk))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_deciding_at_once_give_exactly_one_decision():
    action = _pending()
    users = [UserFactory(), UserFactory()]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(user, approve):
        barrier.wait()
        try:
            if approve:
                action_approve(action_id=action.pk, user=user, seen_payload_sha256=payload_seen(action.pk))
            else:
                action_reject(action_id=action.pk, user=user, reason_code="wrong_action")
            outcomes.append("won")
        except DecisionError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(u, i == 0)) for i, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already_decided", "won"]
    assert Decision.objects.filter(action=action).count() == 1


def test_an_approval_of_content_edited_since_it_was_read_is_refused_and_writes_nothing():
    ApprovalPolicy.objects.create(name="Everything twice", outcome="two_approvals")
    action = _pending(payload={"cadence": "Inbound hot", "steps": 7})
    read_by_carol = payload_seen(action)
    action_approve(
        action_id=action.pk, user=UserFactory(), seen_payload_sha256=read_by_carol, edits={"steps": 5}
    )
    written = Decision.objects.filter(action=action).count()

    with pytest.raises(PayloadNotSeen) as refused:
        action_approve(action_id=action.pk, user=UserFactory(), seen_payload_sha256=read_by_carol)

    assert refused.value.code == "payload_changed"
    assert refused.value.changes == {"steps": {"from": 7, "to": 5}}
    assert refused.value.current_sha256 == payload_seen(action) != read_by_carol
    assert Decision.objects.filter(action=action).count() == written
    assert ProposedAction.objects.get(pk=action.pk).status == "pending_approval"


def test_an_approval_must_say_what_it_approves():
    action = _pending()
    with pytest.raises(DecisionError) as refused:
        action_approve(action_id=action.pk, user=UserFactory(), seen_payload_sha256="")
    assert refused.value.code == "payload_sha256_required"
    assert not Decision.objects.filter(action=action).exists()


def test_the_decision_log_names_where_a_person_decided():
    approved, rejected = _pending(), _pending()
    action_approve(action_id=approved.pk, user=UserFactory(), seen_payload_sha256=payload_seen(approved))
    action_reject(action_id=rejected.pk, user=UserFactory(), reason_code="bad_timing", channel="api")
    channels = dict(
        DecisionLogEntry.objects.filter(event_type="action.decided").values_list(
            "subject_id", "approval__channel"
        )
    )
    assert channels == {str(approved.pk): "web", str(rejected.pk): "api"}


def test_an_unknown_channel_is_a_programming_error_and_decides_nothing():
    action = _pending()
    with pytest.raises(ValueError, match="channel must be one of web, api, email, slack"):
        action_approve(
            action_id=action.pk, user=UserFactory(), seen_payload_sha256=payload_seen(action), channel="fax"
        )
    assert ProposedAction.objects.get(pk=action.pk).status == "pending_approval"
