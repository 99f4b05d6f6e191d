"""What an approver approves, who reads which actions, and what the admin may change.

* An approval names the payload the approver saw (``payload_sha256``): if someone edited it since,
  the approval is refused (409 ``payload_changed``) with what changed, and nothing is written.
* An agent reads only the actions it proposed, unless its key carries ``read_actions``; it never
  decides (no ``decide_actions``; and an integration account decides nothing even with it).
* The admin shows actions read-only and only those in the user's scope; out of scope is 404.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.models import ApprovalPolicy, Decision, ProposedAction
from approvals.services import payload_sha256
from audit.models import DecisionLogEntry
from sales.models import SdrQueue
from security.choices import Scope
from security.models import AccessDenial
from security.services import apikey_create
from tests.factories import LeadFactory, ProposedActionFactory, TicketFactory, user_in_role
from tests.redteam.conftest import AGENT_SCOPES, make_agent

pytestmark = pytest.mark.django_db


def _approver(username: str) -> APIClient:
    """An SDR manager deciding over the API with a key of scope ``decide_actions``."""
    user = user_in_role("SDR managers", username=username)
    client = APIClient()
    key = apikey_create(user=user, name=f"{username} key", scopes=[Scope.DECIDE_ACTIONS])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.plain}")
    return client


def _two_approvals() -> None:
    ApprovalPolicy.objects.create(
        name="E-mails need two approvers", outcome="two_approvals", kinds=["send_email"]
    )


def _proposed(agent) -> int:
    response = agent.propose(idempotency_key=f"{agent.user.username}:{len(agent.sent)}")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending_approval"
    return response.json()["id"]


def _written(action_id: int) -> tuple[int, int]:
    return (
        Decision.objects.filter(action_id=action_id).count(),
        DecisionLogEntry.objects.filter(subject_id=str(action_id), event_type="action.decided").count(),
    )


# --- 1. An approval carries the payload the approver saw -----------------------------------------


def test_it_refuses_an_api_approval_of_a_payload_edited_since_the_approver_read_it(agent):
    _two_approvals()
    action_id = _proposed(agent)
    ana, ben = _approver("ana"), _approver("ben")
    seen_by_ana = ana.get(f"/api/v1/actions/{action_id}/").json()["payload_sha256"]
    seen_by_ben = ben.get(f"/api/v1/actions/{action_id}/").json()["payload_sha256"]

    edited = ben.post(
        f"/api/v1/actions/{action_id}/approve/",
        {"payload_sha256": seen_by_ben, "edits": {"subject": "Changed by Ben"}},
        format="json",
    )
    assert edited.status_code == 200 and edited.json()["status"] == "pending_approval", edited.json()
    before = _written(action_id)

    stale = ana.post(f"/api/v1/actions/{action_id}/approve/", {"payload_sha256": seen_by_ana}, format="json")

    assert stale.status_code == 409, stale.json()
    body = stale.json()
    current = payload_sha256(ProposedAction.objects.get(pk=action_id).payload)
    assert body["code"] == "payload_changed" and body["field"] == "payload_sha256"
    assert body["payload_sha256"] == current != seen_by_ana
    assert body["changes"] == {"subject": {"from": "Hello", "to": "Changed by Ben"}}
    assert ProposedAction.objects.get(pk=action_id).status == "pending_approval"
    assert _written(action_id) == before

    fresh = ana.post(f"/api/v1/actions/{action_id}/approve/", {"payload_sha256": current}, format="json")
    assert fresh.status_code == 200 and fresh.json()["status"] == "approved", fresh.json()
    assert fresh.json()["approved_payload_sha256"] == current


def test_it_refuses_an_api_approval_that_does_not_say_what_it_approves(agent):
    action_id = _proposed(agent)
    before = _written(action_id)

    response = _approver("ana").post(f"/api/v1/actions/{action_id}/approve/", {}, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["field"] == "payload_sha256" and "payload_sha256" in response.json()["detail"]
    assert ProposedAction.objects.get(pk=action_id).status == "pending_approval"
    assert _written(action_id) == before


def test_it_refuses_an_api_approval_of_a_hash_no_version_of_the_payload_had(agent):
    action_id = _proposed(agent)
    before = _written(action_id)

    response = _approver("ana").post(
        f"/api/v1/actions/{action_id}/approve/", {"payload_sha256": "0" * 64}, format="json"
    )

    assert response.status_code == 409 and response.json()["code"] == "payload_changed", response.json()
    assert response.json()["changes"] is None
    assert _written(action_id) == before


def test_a_stale_approval_of_a_one_approval_action_an_editor_approved_is_already_decided(agent):
    action_id = _proposed(agent)
    ana, ben = _approver("ana"), _approver("ben")
    seen = ana.get(f"/api/v1/actions/{action_id}/").json()["payload_sha256"]
    ben.post(
        f"/api/v1/actions/{action_id}/approve/",
        {"payload_sha256": seen, "edits": {"subject": "Changed by Ben"}},
        format="json",
    )
    before = _written(action_id)

    response = ana.post(f"/api/v1/actions/{action_id}/approve/", {"payload_sha256": seen}, format="json")

    assert response.status_code == 409 and response.json()["code"] == "already_decided"
    assert _written(action_id) == before


def _page_hash(html: str) -> str:
    found = re.search(r'name="payload_sha256" value="([0-9a-f]{64})"', html)
    assert found, "the approval page carries the hash of the payload it shows"
    return found.group(1)


def _browser(username: str) -> Client:
    client = Client()
    client.force_login(user_in_role("SDR managers", username=username))
    return client


def test_it_refuses_a_page_approval_of_a_payload_edited_since_the_page_was_opened(agent):
    _two_approvals()
    action_id = _proposed(agent)
    ana, ben = _browser("ana"), _browser("ben")
    seen_by_ana = _page_hash(ana.get(f"/approvals/{action_id}/").content.decode())
    seen_by_ben = _page_hash(ben.get(f"/approvals/{action_id}/").content.decode())
    ben.post(
        f"/approvals/{action_id}/approve/",
        {"edit": "1", "payload_sha256": seen_by_ben, "p__to": "ada@example.com", "p__subject": "Changed by Ben",
         "p__body": "Hi Ada"},
    )  # fmt: skip
    assert ProposedAction.objects.get(pk=action_id).payload["subject"] == "Changed by Ben"
    before = _written(action_id)

    response = ana.post(f"/approvals/{action_id}/approve/", {"payload_sha256": seen_by_ana})

    assert response.status_code == 409
    html = response.content.decode()
    assert "changed since you opened it" in html and "Changed by Ben" in html
    assert ProposedAction.objects.get(pk=action_id).status == "pending_approval"
    assert _written(action_id) == before
    # The page now carries the new content's hash: approving from it approves what it shows.
    response = ana.post(f"/approvals/{action_id}/approve/", {"payload_sha256": _page_hash(html)})
    assert response.status_code == 302
    assert ProposedAction.objects.get(pk=action_id).status == "approved"


def test_a_stale_edit_form_cannot_silently_undo_anothers_edit(agent):
    _two_approvals()
    action_id = _proposed(agent)
    ana, ben = _browser("ana"), _browser("ben")
    seen = _page_hash(ana.get(f"/approvals/{action_id}/").content.decode())
    ben.post(
        f"/approvals/{action_id}/approve/",
        {"edit": "1", "payload_sha256": seen, "p__to": "ada@example.com", "p__subject": "Changed by Ben",
         "p__body": "Hi Ada"},
    )  # fmt: skip
    before = _written(action_id)

    # Ana's form still holds the old subject: submitted as it is, it would put "Hello" back.
    response = ana.post(
        f"/approvals/{action_id}/approve/",
        {"edit": "1", "payload_sha256": seen, "p__to": "ada@example.com", "p__subject": "Hello",
         "p__body": "Hi Ada (Ana's edit)"},
    )  # fmt: skip

    assert response.status_code == 409
    assert ProposedAction.objects.get(pk=action_id).payload["subject"] == "Changed by Ben"
    assert _written(action_id) == before


def test_it_refuses_a_page_approval_without_the_hash(agent):
    action_id = _proposed(agent)
    before = _written(action_id)
    response = _browser("ana").post(f"/approvals/{action_id}/approve/", follow=True)
    assert "payload_sha256" in " ".join(str(m) for m in response.context["messages"])
    assert ProposedAction.objects.get(pk=action_id).status == "pending_approval"
    assert _written(action_id) == before


def test_bulk_approval_approves_each_row_only_with_the_hash_the_queue_showed(agent):
    ids = [_proposed(agent) for _ in range(3)]
    ProposedAction.objects.filter(pk__in=ids).update(risk_level="low")
    ana = _browser("ana")
    html = ana.get("/approvals/").content.decode()
    shown = dict(re.findall(r'name="payload_sha256_(\d+)" value="([0-9a-f]{64})"', html))
    assert set(shown) == {str(i) for i in ids}
    changed, unseen, fine = ids
    ProposedAction.objects.filter(pk=changed).update(
        payload={"to": "eve@example.com", "subject": "Hello", "body": "Hi"}
    )

    response = ana.post(
        "/approvals/bulk-approve/",
        {
            "ids": ids,
            "confirm": "1",  # as the confirmation page posts it, with the hashes the queue showed
            f"payload_sha256_{changed}": shown[str(changed)],
            f"payload_sha256_{fine}": shown[str(fine)],
        },
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert messages[0] == "Approved 1, 2 not approved."
    assert any(f"#{changed}" in m and "changed" in m for m in messages)
    assert any(f"#{unseen}" in m and "payload_sha256" in m for m in messages)
    statuses = dict(ProposedAction.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses == {changed: "pending_approval", unseen: "pending_approval", fine: "approved"}
    assert not Decision.objects.filter(action_id__in=[changed, unseen]).exists()


# --- An agent never decides ------------------------------------------------------------------------


def test_an_agent_cannot_decide_any_action_its_key_lacks_the_scope(agent, other_agent):
    mine, theirs = _proposed(agent), _proposed(other_agent)
    for action_id in (mine, theirs):
        sha = payload_sha256(ProposedAction.objects.get(pk=action_id).payload)
        approve = agent.post(f"/api/v1/actions/{action_id}/approve/", {"payload_sha256": sha})
        reject = agent.post(f"/api/v1/actions/{action_id}/reject/", {"reason_code": "wrong_action"})
        assert approve.status_code == reject.status_code == 403
        assert "decide" in approve.json()["detail"]  # its role decides nothing; nor does its key
    assert not Decision.objects.filter(action_id__in=[mine, theirs]).exists()


def test_an_agent_with_a_decide_key_still_decides_nothing(db):
    agent = make_agent("deciding-bot", scopes=(*AGENT_SCOPES, Scope.DECIDE_ACTIONS, Scope.READ_ACTIONS))
    action_id = _proposed(agent)
    sha = payload_sha256(ProposedAction.objects.get(pk=action_id).payload)

    response = agent.post(f"/api/v1/actions/{action_id}/approve/", {"payload_sha256": sha})

    assert response.status_code == 403, response.json()
    assert not Decision.objects.filter(action_id=action_id).exists()


def test_a_person_who_proposed_over_the_api_cannot_approve_it_four_eyes(db):
    user = user_in_role("SDR managers", username="sam")
    user.user_permissions.add(Permission.objects.get(codename="add_proposedaction"))
    key = apikey_create(user=user, name="sam", scopes=[Scope.SUBMIT_ACTIONS, Scope.DECIDE_ACTIONS])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.plain}")
    created = client.post(
        "/api/v1/actions/",
        {"kind": "send_email", "payload": {"to": "ada@example.com", "subject": "Hi", "body": "Hi"},
         "rationale": "r", "confidence": 0.8, "idempotency_key": "sam-1"},
        format="json",
    ).json()  # fmt: skip

    response = client.post(
        f"/api/v1/actions/{created['id']}/approve/",
        {"payload_sha256": created["payload_sha256"]},
        format="json",
    )

    assert response.status_code == 403 and response.json()["code"] == "self_approval"
    assert not Decision.objects.filter(action_id=created["id"]).exists()


# --- 2. An agent reads only what it proposed --------------------------------------------------------


def test_an_agent_cannot_read_another_agents_action_by_id(agent, other_agent):
    theirs = _proposed(agent)
    denials = AccessDenial.objects.count()

    response = other_agent.get(f"/api/v1/actions/{theirs}/")

    assert response.status_code == 404
    assert AccessDenial.objects.count() == denials + 1
    denial = AccessDenial.objects.latest("id")
    assert (denial.username, denial.object_id) == ("other-bot", str(theirs))


def test_an_agent_reads_its_own_actions(agent, other_agent):
    mine = _proposed(other_agent)
    response = other_agent.get(f"/api/v1/actions/{mine}/")
    assert response.status_code == 200 and response.json()["id"] == mine


def test_an_agent_without_read_actions_lists_nothing_of_anothers(agent, other_agent):
    theirs, mine = _proposed(agent), _proposed(other_agent)
    response = other_agent.get("/api/v1/actions/")
    listed = [a["id"] for a in response.json()["results"]] if response.status_code == 200 else []
    assert response.status_code in (200, 403)
    assert theirs not in listed
    if response.status_code == 200:
        assert listed == [mine]


def test_an_integration_account_without_a_key_reads_only_what_it_proposed(agent, other_agent):
    theirs, mine = _proposed(agent), _proposed(other_agent)
    client = APIClient()
    client.force_authenticate(other_agent.user)

    assert client.get(f"/api/v1/actions/{theirs}/").status_code == 404
    assert client.get(f"/api/v1/actions/{mine}/").status_code == 200
    assert [a["id"] for a in client.get("/api/v1/actions/").json()["results"]] == [mine]


def test_an_agent_whose_key_has_read_actions_reads_per_its_role(agent):
    theirs = _proposed(agent)
    reader = make_agent("reader-bot", scopes=(*AGENT_SCOPES, Scope.READ_ACTIONS))
    assert reader.get(f"/api/v1/actions/{theirs}/").status_code == 200
    assert theirs in [a["id"] for a in reader.get("/api/v1/actions/").json()["results"]]


def test_people_read_per_their_role_whoever_proposed(agent, sdr_manager):
    theirs = _proposed(agent)
    client = APIClient()
    client.force_authenticate(sdr_manager)
    assert client.get(f"/api/v1/actions/{theirs}/").status_code == 200
    assert theirs in [a["id"] for a in client.get("/api/v1/actions/").json()["results"]]


def test_an_sdr_manager_cannot_reach_a_support_action_by_id(ticket, sdr_manager):
    item = ProposedActionFactory(domain="support", lead=None, ticket=ticket, kind="add_internal_note")
    ProposedAction.objects.filter(pk=item.pk).update(status="pending_approval")
    client = APIClient()
    client.force_authenticate(sdr_manager)
    sha = payload_sha256(item.payload)
    assert client.get(f"/api/v1/actions/{item.pk}/").status_code == 404
    assert (
        client.post(f"/api/v1/actions/{item.pk}/approve/", {"payload_sha256": sha}, format="json").status_code
        == 404
    )
    assert (
        client.post(
            f"/api/v1/actions/{item.pk}/reject/", {"reason_code": "wrong_action"}, format="json"
        ).status_code
        == 404
    )
    assert not Decision.objects.filter(action=item).exists()


# --- 3. The admin ----------------------------------------------------------------------------------


def _admin_client(user) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_cannot_change_an_actions_oversight_fields(agent, ops_admin):
    action_id = _proposed(agent)
    action = ProposedAction.objects.get(pk=action_id)
    before = {f: getattr(action, f) for f in ("required_approvals", "approver_group_id", "sla_due_at",
                                             "timeout_action", "status", "risk_level", "payload")}  # fmt: skip
    group = Group.objects.get(name="Ops admins")
    client = _admin_client(ops_admin)
    url = f"/admin/approvals/proposedaction/{action_id}/change/"
    assert client.get(url).status_code == 200

    response = client.post(
        url,
        {"required_approvals": "0", "approver_group": str(group.pk), "timeout_action": "reject",
         "sla_due_at_0": "2000-01-01", "sla_due_at_1": "00:00:00", "status": "approved", "risk_level": "low",
         "policy_reasons": "[]", "compliance_flags": "[]", "escalation_level": "0", "bulk_size": "1",
         "decisions-TOTAL_FORMS": "0", "decisions-INITIAL_FORMS": "0"},
    )  # fmt: skip

    assert response.status_code in (200, 302, 403)
    action.refresh_from_db()
    assert {f: getattr(action, f) for f in before} == before


def test_the_admin_lists_and_opens_only_actions_in_the_users_scope(agent, sdr_manager, ticket):
    teammate = user_in_role("SDR managers", username="teammate")
    stranger = user_in_role("SDR managers", username="stranger")
    team = SdrQueue.objects.create(name="West")
    team.members.add(sdr_manager, teammate)
    other_team = SdrQueue.objects.create(name="East")
    other_team.members.add(stranger)
    ours = ProposedActionFactory(lead=LeadFactory(owner=teammate))
    theirs = ProposedActionFactory(lead=LeadFactory(owner=stranger))
    support = ProposedActionFactory(
        domain="support", lead=None, ticket=TicketFactory(), kind="add_internal_note"
    )
    client = _admin_client(sdr_manager)

    listed = client.get("/admin/approvals/proposedaction/")
    assert listed.status_code == 200
    assert [a.pk for a in listed.context["cl"].result_list] == [ours.pk]
    denials = AccessDenial.objects.count()
    assert client.get(f"/admin/approvals/proposedaction/{ours.pk}/change/").status_code == 200
    for hidden in (theirs, support):
        assert client.get(f"/admin/approvals/proposedaction/{hidden.pk}/change/").status_code == 404
    assert AccessDenial.objects.count() == denials + 2


def test_the_admin_decision_list_is_scoped_like_the_actions(agent, support_lead, ticket):
    sales = ProposedActionFactory()
    Decision.objects.create(action=sales, outcome="reject", reason_code="other", original_payload={},
                            final_payload={})  # fmt: skip
    client = _admin_client(support_lead)
    response = client.get("/admin/approvals/decision/")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_the_sla_of_an_item_is_never_moved_from_the_admin(agent, ops_admin):
    action_id = _proposed(agent)
    due = timezone.now() + timedelta(hours=4)
    ProposedAction.objects.filter(pk=action_id).update(sla_due_at=due)
    client = _admin_client(ops_admin)
    client.post(
        f"/admin/approvals/proposedaction/{action_id}/change/",
        {"sla_due_at_0": "2100-01-01", "sla_due_at_1": "00:00:00", "decisions-TOTAL_FORMS": "0",
         "decisions-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert ProposedAction.objects.get(pk=action_id).sla_due_at == due
