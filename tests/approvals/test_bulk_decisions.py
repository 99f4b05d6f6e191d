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
    fields = {"risk_level": "low", "matched_rule": "Hot inbound", **fields}
    return ProposedActionFactory(status="pending_approval", approver_group=group, **fields)


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


def test_a_bulk_approval_first_says_what_will_go_out_and_approves_only_when_confirmed(client, sofia):
    """ "All low-risk on this page" + "Approve ticked" approved 49 items, customer emails included,
    in one click. Now the first POST shows what would go out; nothing is decided until confirmed."""
    client.force_login(sofia)
    task = _pending(kind="create_task", payload={"subject": "Call back"})
    email = _pending(kind="send_email", payload={"to": "ada@example.com", "subject": "Hi", "body": "Hello"})
    medium = _pending(risk_level="medium")
    ticked = [task, email, medium]
    form = {"ids": [a.pk for a in ticked], "next": "/approvals/"}
    form |= {f"payload_sha256_{a.pk}": payload_seen(a) for a in ticked}

    shown = client.post("/approvals/bulk-approve/", form)

    assert shown.status_code == 200 and not Decision.objects.exists()
    page = shown.content.decode()
    assert "Approve 2 items?" in page
    assert "1 message people outside will receive" in page and f"#{email.pk} send email" in page
    assert "1 ticked item you may not approve in bulk" in page  # the medium-risk one

    done = client.post("/approvals/bulk-approve/", {**form, "confirm": "1"})

    assert done.status_code == 302
    assert set(Decision.objects.filter(bulk=True).values_list("action_id", flat=True)) == {task.pk, email.pk}
