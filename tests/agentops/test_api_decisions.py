import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from approvals.models import ApprovalPolicy, ProposedAction
from approvals.services import action_defer, action_route
from audit.models import DecisionLogEntry
from security.services import apikey_create
from tests.factories import ProposedActionFactory, UserFactory, payload_seen, user_in_role

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
        f"/api/v1/actions/{pending.pk}/approve/",
        {"payload_sha256": payload_seen(pending), "edits": {"steps": 5}, "comment": "shorter"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "approved" and response.json()["payload"]["steps"] == 5
    entry = DecisionLogEntry.objects.get(event_type="action.decided", subject_id=str(pending.pk))
    assert entry.approval["channel"] == "api"


def test_a_second_decision_gets_409_naming_who_decided(pending):
    _approver("sofia").post(
        f"/api/v1/actions/{pending.pk}/reject/", {"reason_code": "bad_timing"}, format="json"
    )
    response = _approver("liam").post(
        f"/api/v1/actions/{pending.pk}/approve/", {"payload_sha256": payload_seen(pending)}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "already_decided" and "sofia" in response.json()["detail"]


def test_a_rejection_without_a_reason_is_400_naming_the_field(pending):
    response = _approver("sofia").post(f"/api/v1/actions/{pending.pk}/reject/", {}, format="json")
    assert response.status_code == 400 and "reason_code" in response.json()
    assert ProposedAction.objects.get(pk=pending.pk).status == "pending_approval"


def test_a_bad_edit_is_400_and_changes_nothing(pending):
    response = _approver("sofia").post(
        f"/api/v1/actions/{pending.pk}/approve/",
        {"payload_sha256": payload_seen(pending), "edits": {"owner": "me"}},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_edit"
    assert ProposedAction.objects.get(pk=pending.pk).payload == {"cadence": "Inbound hot", "steps": 7}


def test_deciding_needs_the_permission(pending):
    client = APIClient()
    client.force_authenticate(UserFactory())
    assert client.post(f"/api/v1/actions/{pending.pk}/approve/", {}, format="json").status_code == 403
    assert _approver("sofia").post("/api/v1/actions/999999/approve/", {}, format="json").status_code == 404


def _keyed_approver(username):
    """An approver calling with an API key of scope ``decide_actions``, as integrations do."""
    user = user_in_role("Ops admins", username=username)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {apikey_create(user=user, name='ops', scopes=['decide_actions']).plain}"
    )
    return client


def _pending_actions(count):
    return [action_route(action_id=ProposedActionFactory(payload={"steps": 7}).pk) for _ in range(count)]


def test_it_decides_over_an_api_key_in_a_fixed_number_of_queries():
    first, approved, rejected = _pending_actions(3)
    client = _keyed_approver("ops")
    client.post(  # marks the key used
        f"/api/v1/actions/{first.pk}/approve/", {"payload_sha256": payload_seen(first)}, format="json"
    )

    # The key and its user, the user's groups, the scope check, then in one transaction the locked
    # row, earlier approvals, the decision, the action and its decision-log entry, then the decisions
    # for the answer and the personal-data permission. Nothing re-reads the action.
    seen = payload_seen(approved)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            f"/api/v1/actions/{approved.pk}/approve/", {"payload_sha256": seen}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert _counted(queries) == 10, "\n".join(q["sql"] for q in queries.captured_queries)

    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            f"/api/v1/actions/{rejected.pk}/reject/", {"reason_code": "bad_timing"}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert _counted(queries) == 9, "\n".join(q["sql"] for q in queries.captured_queries)


def _counted(queries):
    """Statements, without the savepoints of the test's own transaction (BEGIN/COMMIT in production)."""
    return sum(1 for q in queries.captured_queries if "SAVEPOINT" not in q["sql"])


def test_the_answer_to_a_decision_is_what_reading_the_action_answers():
    action = ProposedActionFactory(payload={"to": "ana@example.com", "steps": 7})
    action = action_route(action_id=action.pk)
    action_defer(action_id=action.pk, user=UserFactory(username="liam"), comment="later")
    client = _keyed_approver("ops")
    answer = client.post(
        f"/api/v1/actions/{action.pk}/approve/",
        {"payload_sha256": payload_seen(action), "edits": {"steps": 5}, "comment": "shorter"},
        format="json",
    ).json()

    assert answer == client.get(f"/api/v1/actions/{action.pk}/").json()
    assert answer["payload"] == {"to": "ana@example.com", "steps": 5}
    assert [(d["outcome"], d["decided_by"]) for d in answer["decisions"]] == [
        ("defer", "liam"),
        ("edit_approve", "ops"),
    ]


def test_a_caller_without_the_personal_data_permission_gets_the_decision_masked(pending):
    ProposedAction.objects.filter(pk=pending.pk).update(payload={"to": "ana@example.com", "steps": 7})
    user = user_in_role("SDR managers", username="sofia")
    user.groups.get().permissions.remove(Permission.objects.get(codename="view_personal_data"))
    client = APIClient()
    client.force_authenticate(user)

    answer = client.post(
        f"/api/v1/actions/{pending.pk}/approve/", {"payload_sha256": payload_seen(pending)}, format="json"
    ).json()

    assert answer["status"] == "approved" and answer["payload"]["to"] == "a***@e***.com"


def test_a_stale_approval_is_409_with_what_changed_masked_for_a_caller_without_personal_data():
    ApprovalPolicy.objects.create(name="Everything twice", outcome="two_approvals")
    email = {"to": "ana@example.com", "subject": "Hello", "body": "Hi Ana"}
    action = action_route(action_id=ProposedActionFactory(kind="send_email", payload=email).pk)
    read = payload_seen(action)
    _approver("sofia").post(
        f"/api/v1/actions/{action.pk}/approve/",
        {"payload_sha256": read, "edits": {"to": "bob@example.com"}},
        format="json",
    )
    user = user_in_role("SDR managers", username="liam")
    user.groups.get().permissions.remove(Permission.objects.get(codename="view_personal_data"))
    client = APIClient()
    client.force_authenticate(user)

    response = client.post(f"/api/v1/actions/{action.pk}/approve/", {"payload_sha256": read}, format="json")

    assert response.status_code == 409
    assert response.json()["changes"] == {"to": {"from": "a***@e***.com", "to": "b***@e***.com"}}
    assert response.json()["payload_sha256"] == payload_seen(action)
