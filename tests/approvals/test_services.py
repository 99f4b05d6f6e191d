import pytest

from approvals.choices import ActionStatus
from approvals.models import ProposedAction
from approvals.services import (
    DuplicateProposal,
    Settled,
    action_approve,
    action_propose,
    action_route,
    actions_cancel_unsent,
    actions_settle_many,
    payload_sha256,
)
from audit.models import DecisionLogEntry
from tests.factories import LeadFactory, ProposedActionFactory, UserFactory, payload_seen

pytestmark = pytest.mark.django_db

HASH = "a" * 64  # an approved action's stored hash (the constraint needs one)


def _propose(lead, key="k-1", **overrides):
    params = dict(
        kind="enrol_cadence",
        domain="sales",
        payload={"cadence": "Inbound hot", "steps": 7},
        rationale="Score 86 and uncontacted.",
        confidence=0.86,
        idempotency_key=key,
        proposed_by="sdr-agent",
        lead_id=lead.pk,
    )
    params.update(overrides)
    return action_propose(**params)


def test_it_logs_a_new_proposal_in_the_same_transaction():
    action = _propose(LeadFactory())
    entry = DecisionLogEntry.objects.get(subject_type="proposed_action", subject_id=str(action.pk))
    assert entry.event_type == "action.proposed"
    assert entry.correlation_id == action.correlation_id
    assert entry.prediction["confidence"] == 0.86


def test_it_never_stores_the_same_proposal_twice():
    lead = LeadFactory()
    first = _propose(lead)
    with pytest.raises(DuplicateProposal) as excinfo:
        _propose(lead)
    assert excinfo.value.existing.pk == first.pk
    assert ProposedAction.objects.count() == 1


def test_it_walks_the_happy_path_and_pins_the_approved_payload():
    action = action_route(action_id=_propose(LeadFactory()).pk)
    assert action.status == ActionStatus.PENDING_APPROVAL
    action_approve(action_id=action.pk, user=UserFactory(), seen_payload_sha256=payload_seen(action.pk))
    counts = actions_settle_many(
        outcomes=[Settled(action.pk, ActionStatus.EXECUTED, "enrolled")], actor="tester"
    )
    action.refresh_from_db()
    assert counts == {"executed": 1}
    assert action.status == ActionStatus.EXECUTED
    assert action.approved_payload_sha256 == payload_sha256({"steps": 7, "cadence": "Inbound hot"})
    assert None not in (action.decided_at, action.execution_started_at, action.executed_at)
    executed = DecisionLogEntry.objects.get(event_type="action.executed", subject_id=str(action.pk))
    assert (executed.action_taken["from"], executed.action_taken["to"]) == ("approved", "executed")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("proposed", "executed"),
        ("pending_approval", "executed"),
        ("rejected", "cancelled"),
        ("executed", "executed"),
        ("cancelled", "cancelled"),
    ],
)
def test_it_leaves_an_action_whose_status_does_not_allow_the_end_and_writes_nothing(start, end):
    action = ProposedActionFactory(
        status=start, approved_payload_sha256="a" * 64 if start == "executed" else ""
    )
    logged = DecisionLogEntry.objects.count()
    assert actions_settle_many(outcomes=[Settled(action.pk, end, "x")], actor="tester") == {}
    action.refresh_from_db()
    assert action.status == start
    assert DecisionLogEntry.objects.count() == logged


def test_it_cancels_the_unsent_messages_of_a_lead_and_the_actions_named():
    lead, other = LeadFactory(), LeadFactory()
    email = ProposedActionFactory(lead=lead, kind="send_email", status="pending_approval")
    sms = ProposedActionFactory(lead=lead, kind="send_sms", status="approved", approved_payload_sha256=HASH)
    sent = ProposedActionFactory(
        lead=lead, kind="send_email", status="executed", approved_payload_sha256=HASH
    )
    task = ProposedActionFactory(
        lead=lead, kind="create_task", status="approved", approved_payload_sha256=HASH
    )
    named = ProposedActionFactory(lead=other, kind="create_task", status="proposed")
    elsewhere = ProposedActionFactory(
        lead=other, kind="send_email", status="approved", approved_payload_sha256=HASH
    )

    cancelled = actions_cancel_unsent(
        reason="the contact opted out", actor="tester", lead_ids=[lead.pk], action_ids=[named.pk, None]
    )

    assert cancelled == sorted([email.pk, sms.pk, named.pk])
    statuses = dict(ProposedAction.objects.values_list("pk", "status"))
    assert [statuses[a.pk] for a in (email, sms, named)] == ["cancelled"] * 3
    assert (statuses[sent.pk], statuses[task.pk], statuses[elsewhere.pk]) == (
        "executed",
        "approved",
        "approved",
    )
    entry = DecisionLogEntry.objects.get(event_type="action.transitioned", subject_id=str(sms.pk))
    assert entry.action_taken["to"] == "cancelled" and entry.action_taken["reason"] == "the contact opted out"
    assert actions_cancel_unsent(reason="again", actor="tester", lead_ids=[lead.pk]) == []


def test_it_cancels_only_the_kinds_asked_for():
    lead = LeadFactory()
    email = ProposedActionFactory(
        lead=lead, kind="send_email", status="approved", approved_payload_sha256=HASH
    )
    sms = ProposedActionFactory(lead=lead, kind="send_sms", status="approved", approved_payload_sha256=HASH)
    assert actions_cancel_unsent(
        reason="sms consent withdrawn", actor="t", lead_ids=[lead.pk], kinds=["send_sms"]
    ) == [sms.pk]
    email.refresh_from_db()
    assert email.status == "approved"


def test_it_hashes_payloads_independently_of_key_order():
    assert payload_sha256({"a": 1, "b": [1, 2]}) == payload_sha256({"b": [1, 2], "a": 1})
    assert payload_sha256({"a": 1}) != payload_sha256({"a": 2})
