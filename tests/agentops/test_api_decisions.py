import pytest
from rest_framework.test import APIClient

from approvals.models import ProposedAction
from approvals.services import action_route
from tests.factories import ProposedActionFactory, UserFactory, user_in_role

pytestmark = pytest.mark.django_db


def _approver(username):
    # Deciding follows the role (security.roles): SDR managers decide sales items.
    user = user_in_role("SDR managers", username=username)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def pending():
    action = ProposedActionFactory(payload={"cadence": "Inbound hot", "steps": 7})
    return action_route(action_id=action.pk)


def test_it_approves_with_edits_over_the_api(pending):
    response = _approver("sofia").post(
        f"/api/v1/actions/{pending.pk}/approve/", {"edits": {"steps": 5}, "comment": "shorter"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "approved" and response.json()["payload"]["steps"] == 5


def test_a_second_decision_gets_409_naming_who_decided(pending):
    _approver("sofia").post(
        f"/api/v1/actions/{pending.pk}/reject/", {"reason_code": "bad_timing"}, format="json"
    )
    response = _approver("liam").post(f"/api/v1/actions/{pending.pk}/approve/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "already_decided" and "sofia" in response.json()["detail"]


def test_a_rejection_without_a_reason_is_400_naming_the_field(pending):
    response = _approver("sofia").post(f"/api/v1/actions/{pending.pk}/reject/", {}, format="json")
    assert response.status_code == 400 and "reason_code" in response.json()
    assert ProposedAction.objects.get(pk=pending.pk).status == "pending_approval"


def test_a_bad_edit_is_400_and_changes_nothing(pending):
    response = _approver("sofia").post(
        f"/api/v1/actions/{pending.pk}/approve/", {"edits": {"owner": "me"}}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_edit"
    assert ProposedAction.objects.get(pk=pending.pk).payload == {"cadence": "Inbound hot", "steps": 7}


def test_deciding_needs_the_permission(pending):
    client = APIClient()
    client.force_authenticate(UserFactory())
    assert client.post(f"/api/v1/actions/{pending.pk}/approve/", {}, format="json").status_code == 403
    assert _approver("sofia").post("/api/v1/actions/999999/approve/", {}, format="json").status_code == 404
