import pytest
from django.db import IntegrityError, transaction

from approvals.models import Decision
from tests.factories import ProposedActionFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("confidence", [-0.01, 1.01])
def test_it_rejects_confidence_outside_zero_to_one(confidence):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProposedActionFactory(confidence=confidence)


def test_it_rejects_an_action_aimed_at_both_a_lead_and_a_ticket():
    with pytest.raises(IntegrityError), transaction.atomic():
        ProposedActionFactory(ticket=TicketFactory())


def test_it_rejects_a_repeated_idempotency_key():
    ProposedActionFactory(idempotency_key="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProposedActionFactory(idempotency_key="same")


def test_it_rejects_an_unknown_status_written_behind_the_services_back():
    with pytest.raises(IntegrityError), transaction.atomic():
        ProposedActionFactory(status="launched")


def test_it_rejects_an_approved_action_without_the_approved_payload_hash():
    with pytest.raises(IntegrityError), transaction.atomic():
        ProposedActionFactory(status="approved", approved_payload_sha256="")


def test_it_rejects_a_rejection_without_a_reason():
    action = ProposedActionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(action=action, outcome="reject", decided_by=UserFactory())


def test_it_counts_one_approval_per_person_so_a_quorum_needs_two_people():
    action = ProposedActionFactory()
    approver = UserFactory()
    Decision.objects.create(action=action, outcome="approve", decided_by=approver, payload_sha256="a" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(
            action=action, outcome="approve", decided_by=approver, payload_sha256="a" * 64
        )
    Decision.objects.create(
        action=action, outcome="approve", decided_by=UserFactory(), payload_sha256="a" * 64
    )
    assert action.decisions.count() == 2
