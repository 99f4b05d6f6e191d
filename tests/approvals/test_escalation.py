"""SLA timers: escalation up the ladder, expiry and rejection, with time fixed by the test."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from approvals.models import ApprovalPolicy, EscalationStep, ProposedAction
from approvals.services import action_approve, action_route, actions_escalate_overdue
from audit.models import DecisionLogEntry
from tests.factories import ProposedActionFactory, UserFactory, payload_seen

pytestmark = pytest.mark.django_db


@pytest.fixture
def ladder():
    managers = Group.objects.get_or_create(name="SDR managers")[0]
    directors = Group.objects.create(name="Sales directors")
    vp = Group.objects.create(name="VP Sales")
    EscalationStep.objects.create(group=managers, escalate_to=directors, sla_minutes=30)
    EscalationStep.objects.create(group=directors, escalate_to=vp, sla_minutes=15)
    return managers, directors, vp


def _routed(policy_kwargs, **action_kwargs):
    ApprovalPolicy.objects.create(name="sales writes", outcome="one_approval", **policy_kwargs)
    return action_route(action_id=ProposedActionFactory(**action_kwargs).pk)


def test_an_overdue_item_climbs_the_ladder_one_rung_per_missed_sla(ladder):
    managers, directors, vp = ladder
    action = _routed({"approver_group": managers, "sla_minutes": 60})
    routed_at = action.sla_due_at - timedelta(minutes=60)

    assert actions_escalate_overdue(now=routed_at + timedelta(minutes=59)).escalated == 0
    first = actions_escalate_overdue(now=routed_at + timedelta(minutes=61))
    action.refresh_from_db()
    assert (first.escalated, action.approver_group, action.escalation_level) == (1, directors, 1)
    assert action.sla_due_at == routed_at + timedelta(minutes=61 + 30)

    # Running again before the new SLA changes nothing (safe to run twice).
    assert actions_escalate_overdue(now=routed_at + timedelta(minutes=62)).escalated == 0
    actions_escalate_overdue(now=routed_at + timedelta(minutes=92))
    action.refresh_from_db()
    assert (action.approver_group, action.escalation_level) == (vp, 2)

    top = actions_escalate_overdue(now=routed_at + timedelta(minutes=120))
    action.refresh_from_db()
    assert top.at_top == 1 and action.approver_group == vp and action.status == "pending_approval"
    moves = [
        e.action_taken["to"]
        for e in DecisionLogEntry.objects.filter(event_type="action.escalated").order_by("id")
    ]
    assert moves == ["Sales directors", "VP Sales", "VP Sales"]


@pytest.mark.parametrize(("timeout_action", "status"), [("expire", "expired"), ("reject", "rejected")])
def test_a_policy_can_expire_or_reject_items_whose_sla_ran_out(timeout_action, status):
    action = _routed({"sla_minutes": 10, "timeout_action": timeout_action})
    summary = actions_escalate_overdue(now=action.sla_due_at + timedelta(seconds=1))
    assert ProposedAction.objects.get(pk=action.pk).status == status
    assert getattr(summary, "expired" if status == "expired" else "rejected") == 1


def test_items_without_an_sla_or_already_decided_are_left_alone(ladder):
    no_sla = _routed({})
    assert no_sla.sla_due_at is None
    decided = action_route(action_id=ProposedActionFactory().pk)
    ProposedAction.objects.filter(pk=decided.pk).update(sla_due_at=timezone.now(), approver_group=ladder[0])
    action_approve(action_id=decided.pk, user=UserFactory(), seen_payload_sha256=payload_seen(decided.pk))
    summary = actions_escalate_overdue(now=timezone.now() + timedelta(days=30))
    assert (summary.escalated, summary.expired, summary.rejected, summary.at_top) == (0, 0, 0, 0)
    assert ProposedAction.objects.get(pk=decided.pk).approver_group == ladder[0]


def test_the_periodic_tasks_are_registered_once():
    from django_q.models import Schedule

    names = list(Schedule.objects.values_list("name", "func"))
    assert ("approvals: SLA escalation", "approvals.tasks.escalate_overdue_task") in names
    assert ("scoring: drift check", "scoring.tasks.drift_check_task") in names
    assert len(names) == len(set(names))
