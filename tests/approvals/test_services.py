import pytest

from agentops.statemachine import IllegalTransition
from approvals.choices import ActionStatus
from approvals.models import ProposedAction
from approvals.services import DuplicateProposal, action_propose, action_transition, payload_sha256
from audit.models import DecisionLogEntry
from tests.factories import LeadFactory, ProposedActionFactory

pytestmark = pytest.mark.django_db


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
    action = _propose(LeadFactory())
    for status in ("pending_approval", "approved", "executing", "executed"):
        action = action_transition(action_id=action.pk, to=status, actor="tester")
    assert action.status == ActionStatus.EXECUTED
    assert action.approved_payload_sha256 == payload_sha256({"steps": 7, "cadence": "Inbound hot"})
    assert action.decided_at is not None and action.executed_at is not None
    moves = [
        (e.action_taken["from"], e.action_taken["to"])
        for e in DecisionLogEntry.objects.filter(event_type="action.transitioned").order_by("id")
    ]
    assert moves == [
        ("proposed", "pending_approval"),
        ("pending_approval", "approved"),
        ("approved", "executing"),
        ("executing", "executed"),
    ]


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("proposed", "executing"),
        ("pending_approval", "executed"),
        ("rejected", "approved"),
        ("executed", "executing"),
        ("cancelled", "pending_approval"),
    ],
)
def test_it_rejects_an_illegal_transition_and_writes_nothing(start, target):
    action = ProposedActionFactory(
        status=start, approved_payload_sha256="a" * 64 if start == "executed" else ""
    )
    logged = DecisionLogEntry.objects.count()
    with pytest.raises(IllegalTransition, match=f"from '{start}' to '{target}'"):
        action_transition(action_id=action.pk, to=target, actor="tester")
    action.refresh_from_db()
    assert action.status == start
    assert DecisionLogEntry.objects.count() == logged


def test_it_hashes_payloads_independently_of_key_order():
    assert payload_sha256({"a": 1, "b": [1, 2]}) == payload_sha256({"b": [1, 2], "a": 1})
    assert payload_sha256({"a": 1}) != payload_sha256({"a": 2})
