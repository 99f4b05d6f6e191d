"""Bulk approvals are marked as such and kept out of the override statistics and the learning data
(issue 23, point 2): 49 items approved in one click counted as 49 human judgements (0% override),
so rubber-stamping looked like agent quality."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from approvals.models import Decision
from approvals.selectors import bulk_approvals_count, feedback_by_rule_and_model
from approvals.services import action_approve, action_reject, actions_bulk_approve
from audit.models import DecisionLogEntry
from tests.factories import ProposedActionFactory, payload_seen, user_in_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def sofia():
    return user_in_role("SDR managers", username="sofia")


def _pending(**fields):
    group = Group.objects.get(name="SDR managers")
    return ProposedActionFactory(
        status="pending_approval",
        approver_group=group,
        risk_level="low",
        matched_rule="Hot inbound",
        **fields,
    )


def test_a_bulk_approval_is_marked_on_each_decision_and_in_the_log(sofia):
    ticked = [_pending() for _ in range(3)]
    alone = _pending()

    actions_bulk_approve(
        action_ids=[a.pk for a in ticked],
        user=sofia,
        seen_payload_sha256={a.pk: payload_seen(a) for a in ticked},
    )
    action_approve(action_id=alone.pk, user=sofia, seen_payload_sha256=payload_seen(alone))

    assert sorted(Decision.objects.values_list("action_id", "bulk")) == sorted(
        [*((a.pk, True) for a in ticked), (alone.pk, False)]
    )
    logged = DecisionLogEntry.objects.filter(
        event_type="action.decided",
        subject_type="proposed_action",
        subject_id__in=[str(a.pk) for a in ticked],
    )
    assert logged.count() == 3 and all(e.approval["bulk"] is True for e in logged)


def test_bulk_approvals_are_not_counted_as_judgements(sofia):
    ticked = [_pending() for _ in range(5)]
    actions_bulk_approve(
        action_ids=[a.pk for a in ticked],
        user=sofia,
        seen_payload_sha256={a.pk: payload_seen(a) for a in ticked},
    )
    action_reject(action_id=_pending().pk, user=sofia, reason_code="wrong_action")

    [row] = feedback_by_rule_and_model()

    assert (row.matched_rule, row.decisions, row.approved, row.rejected) == ("Hot inbound", 1, 0, 1)
    assert bulk_approvals_count() == 5


def test_bulk_approvals_are_left_out_of_the_learning_data(sofia, tmp_path):
    ticked = [_pending() for _ in range(2)]
    actions_bulk_approve(
        action_ids=[a.pk for a in ticked],
        user=sofia,
        seen_payload_sha256={a.pk: payload_seen(a) for a in ticked},
    )
    read = _pending()
    action_approve(action_id=read.pk, user=sofia, seen_payload_sha256=payload_seen(read))

    path = tmp_path / "feedback.jsonl"
    call_command("export_feedback", str(path), stdout=StringIO())

    examples = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["action_id"] for e in examples] == [read.pk]
