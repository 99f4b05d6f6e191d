"""One-click decision links in approvers' email: a GET decides nothing, the POST decides once through
the approval services (channel "email" in the decision log), and every refusal says why."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.utils import timezone

from approvals.models import ProposedAction
from approvals.services import action_approve, payload_sha256
from audit.models import DecisionLogEntry
from notifications.email_links import LinkRefused, LinkRequest, approval_link_use, approval_links_issue
from notifications.models import ApprovalLink
from notifications.services import notifications_send_pending
from security import signin
from tests.factories import ProposedActionFactory, payload_seen

pytestmark = pytest.mark.django_db
BASE = "https://agentops.example.com"


def _pending(group, **kwargs):
    return ProposedActionFactory(status="pending_approval", approver_group=group, **kwargs)


def _links(user, action, *, hours=48):
    pair = approval_links_issue(
        requests=[LinkRequest(user.pk, action.pk, payload_seen(action))],
        base_url=BASE,
        expires_at=timezone.now() + timedelta(hours=hours),
    )[(user.pk, action.pk)]
    return pair.approve_url.removeprefix(BASE), pair.reject_url.removeprefix(BASE)


def _status(action):
    return ProposedAction.objects.values_list("status", flat=True).get(pk=action.pk)


def _log(action):
    return DecisionLogEntry.objects.filter(subject_id=str(action.pk), event_type="action.decided")


def test_each_approver_email_carries_their_own_approve_and_reject_links(team, config):
    action = _pending(team.group, risk_level="high")
    notifications_send_pending()

    for message in mail.outbox:
        urls = re.findall(rf"{BASE}/notifications/decide/\S+/", message.body)
        assert len(urls) == 2
    links = ApprovalLink.objects.filter(action=action)
    assert sorted((link.user_id, link.decision) for link in links) == sorted(
        (user.pk, decision) for user in (team.owner, team.teammate) for decision in ("approve", "reject")
    )
    assert {link.payload_sha256 for link in links} == {payload_seen(action)}
    assert all(link.expires_at > timezone.now() + timedelta(hours=47) for link in links)


def test_no_links_when_the_admin_switches_them_off(team, config):
    config.email_link_hours = 0
    config.save()
    _pending(team.group, risk_level="high")
    notifications_send_pending()
    assert mail.outbox and "/notifications/decide/" not in mail.outbox[0].body
    assert not ApprovalLink.objects.exists()


def test_opening_a_link_decides_nothing_and_confirming_approves_once(client, team):
    action = _pending(team.group, risk_level="low")
    approve, _ = _links(team.owner, action)

    page = client.get(approve)
    assert page.status_code == 200 and b"Approve item #" in page.content
    assert _status(action) == "pending_approval"

    done = client.post(approve)
    assert done.status_code == 200 and b"Approved" in done.content
    assert _status(action) == "approved"
    entry = _log(action).get()
    assert entry.approval["channel"] == "email" and entry.approval["approver"] == "sofia"

    again = client.post(approve)
    assert again.status_code == 410 and b"used already" in again.content
    assert _log(action).count() == 1


def test_an_expired_link_is_refused(client, team):
    action = _pending(team.group, risk_level="low")
    approve, _ = _links(team.owner, action, hours=-1)
    assert client.get(approve).status_code == 410
    response = client.post(approve)
    assert response.status_code == 410 and b"expired" in response.content
    assert _status(action) == "pending_approval"


def test_a_link_for_a_payload_changed_since_is_refused_naming_the_change(client, team):
    action = _pending(team.group, risk_level="low", payload={"cadence": "Inbound hot"})
    approve, _ = _links(team.owner, action)
    # Another approver edits it (a two-approval item keeps waiting after the first, edited approval).
    ProposedAction.objects.filter(pk=action.pk).update(required_approvals=2)
    action_approve(
        action_id=action.pk,
        user=team.teammate,
        seen_payload_sha256=payload_seen(action),
        edits={"cadence": "Nurture"},
    )

    response = client.post(approve)
    assert response.status_code == 409
    assert b"changed since this email was sent (cadence)" in response.content
    assert b"Nurture" in response.content
    assert ApprovalLink.objects.get(decision="approve", user=team.owner).used_at is None


def test_a_link_of_someone_who_may_no_longer_decide_is_refused(client, team):
    action = _pending(team.group, risk_level="low")
    approve, _ = _links(team.owner, action)
    team.owner.groups.remove(team.group)
    response = client.post(approve)
    assert response.status_code == 403 and b"may no longer decide" in response.content
    assert _status(action) == "pending_approval"


def test_a_link_to_an_item_decided_meanwhile_names_the_decider(client, team):
    action = _pending(team.group, risk_level="low")
    approve, _ = _links(team.owner, action)
    action_approve(action_id=action.pk, user=team.teammate, seen_payload_sha256=payload_seen(action))
    response = client.get(approve)
    assert response.status_code == 409 and b"decided by liam" in response.content


def test_a_changed_token_is_refused(client, team):
    action = _pending(team.group, risk_level="low")
    approve, _ = _links(team.owner, action)
    forged = approve.replace(f".{team.owner.pk}.", f".{team.teammate.pk}.", 1)
    assert client.post(forged).status_code == 404
    assert _status(action) == "pending_approval"


def test_four_eyes_holds_and_leaves_the_link_unused(client, team):
    action = _pending(team.group, risk_level="low", proposed_by_user=team.owner)
    approve, _ = _links(team.owner, action)
    response = client.post(approve)
    assert response.status_code == 403 and b"someone else must approve" in response.content
    assert ApprovalLink.objects.get(decision="approve").used_at is None


def test_the_reject_link_asks_for_a_reason_then_rejects(client, team):
    action = _pending(team.group, risk_level="low")
    _, reject = _links(team.owner, action)
    assert b"Reason" in client.get(reject).content
    assert client.post(reject, {"reason_code": ""}).status_code == 400
    assert _status(action) == "pending_approval"

    assert client.post(reject, {"reason_code": "bad_timing", "comment": "Not now"}).status_code == 200
    assert _status(action) == "rejected"
    assert _log(action).get().approval == {
        "approver": "sofia",
        "decision": "reject",
        "reason_code": "bad_timing",
        "channel": "email",
    }


def test_a_signed_in_approver_cannot_use_a_colleagues_link(client, team):
    action = _pending(team.group, risk_level="low")
    approve, _ = _links(team.owner, action)
    client.force_login(team.teammate)
    assert client.post(approve).status_code == 403
    assert _status(action) == "pending_approval"


def test_a_high_risk_approval_asks_for_sign_in_and_the_password_like_the_web(client, team):
    action = _pending(team.group, risk_level="high")
    approve, _ = _links(team.owner, action)

    anonymous = client.post(approve)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    client.force_login(team.owner)
    session = client.session
    session[signin.CONFIRMED_AT] = time.time() - 3600  # the password was proved an hour ago
    session.save()
    stale = client.post(approve)
    assert stale.status_code == 302 and stale["Location"].startswith("/account/confirm-password/")
    assert _status(action) == "pending_approval"

    confirmed = client.post(stale["Location"], {"password": "pw-for-tests-1", "next": approve})
    assert confirmed.status_code == 302 and confirmed["Location"] == approve
    assert client.post(approve).status_code == 200
    assert _status(action) == "approved"


def test_links_are_stored_bound_to_their_user_action_and_payload(team):
    action = _pending(team.group)
    _links(team.owner, action)
    assert set(ApprovalLink.objects.values_list("user_id", "action_id", "payload_sha256")) == {
        (team.owner.pk, action.pk, payload_sha256(action.payload))
    }
    assert Group.objects.filter(name="SDR managers").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clicks_at_once_on_one_link_decide_once(team):
    action = _pending(team.group, risk_level="low")
    approve, _ = _links(team.owner, action)
    token = approve.removeprefix("/notifications/decide/").rstrip("/")
    barrier = threading.Barrier(2)
    outcomes = []

    def click():
        try:
            barrier.wait(timeout=10)
            approval_link_use(token=token, now=timezone.now())
            outcomes.append("approved")
        except LinkRefused as refused:
            outcomes.append(refused.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["approved", "used"]
    assert _log(action).count() == 1
