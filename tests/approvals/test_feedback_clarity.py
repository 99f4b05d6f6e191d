"""Clear feedback on the item page (issue 23, point 4): a reason "Other" says what it is, every
field has its own label, and errors are announced as errors."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from approvals.models import ProposedAction
from approvals.services import DecisionError, action_reject
from tests.factories import ProposedActionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sofia(client):
    user = UserFactory(username="sofia")
    user.groups.add(Group.objects.get_or_create(name="SDR managers")[0])
    client.force_login(user)
    return user


def _pending():
    return ProposedActionFactory(
        status="pending_approval", approver_group=Group.objects.get(name="SDR managers")
    )


def test_other_without_a_comment_is_refused_on_the_page_naming_the_comment(client, sofia):
    action = _pending()

    page = client.post(reverse("approval-reject", args=[action.pk]), {"reason_code": "other", "comment": " "})

    assert page.status_code == 400
    assert "comment" in page.context["reject_form"].errors
    assert ProposedAction.objects.get(pk=action.pk).status == "pending_approval"
    assert re.search(r'role="alert"[^>]*>[^<]*Say what the other reason is', page.content.decode())


def test_other_without_a_comment_is_refused_by_the_service_too(sofia):
    action = _pending()
    with pytest.raises(DecisionError) as refused:
        action_reject(action_id=action.pk, user=sofia, reason_code="other", comment="")
    assert refused.value.code == "comment_required"
    action_reject(action_id=action.pk, user=sofia, reason_code="other", comment="Wrong segment")
    assert ProposedAction.objects.get(pk=action.pk).status == "rejected"


def test_every_id_on_the_item_page_is_unique_and_each_comment_has_its_label(client, sofia):
    action = _pending()

    html = client.get(reverse("approval-detail", args=[action.pk])).content.decode()

    ids = Counter(re.findall(r'\bid="([^"]+)"', html))
    assert [i for i, n in ids.items() if n > 1] == []
    for field in re.findall(r'<textarea[^>]*\bid="([^"]+)"', html):
        assert f'for="{field}"' in html, field


def test_success_is_a_status_and_an_error_an_alert(client, sofia):
    action = _pending()
    client.post(reverse("approval-reject", args=[action.pk]), {"reason_code": "wrong_action"})
    done = client.get(reverse("approval-queue")).content.decode()
    assert re.search(r'<li class="msg-success" role="status">Rejected #', done)

    again = client.post(
        reverse("approval-reject", args=[action.pk]), {"reason_code": "wrong_action"}, follow=True
    )
    assert re.search(r'<li class="msg-error" role="alert">Not rejected', again.content.decode())


def test_a_role_that_cannot_decide_sees_no_decision_controls(client):
    """The auditor's queue said "waiting for you" with approve and bulk controls; pressing one landed
    on a bare "Not allowed" page (issue 23, point 5)."""
    from tests.factories import user_in_role

    item = _pending_for("SDR managers")
    client.force_login(user_in_role("Auditors", username="audrey"))

    queue = client.get(reverse("approval-queue")).content.decode()
    page = client.get(reverse("approval-detail", args=[item.pk])).content.decode()

    assert f"#{item.pk}" in queue and "read only" in queue and "waiting for you" not in queue
    for control in ("data-approve", "data-bulk-approve", "data-select-low"):
        assert control not in queue, control
    assert 'id="approve-form"' not in page and 'id="defer-form"' not in page and 'id="reject"' not in page
    assert "Your role reads this item; it does not decide it." in page


def test_an_approver_still_has_every_control(client, sofia):
    item = _pending_for("SDR managers")
    queue = client.get(reverse("approval-queue")).content.decode()
    page = client.get(reverse("approval-detail", args=[item.pk])).content.decode()
    assert "data-approve" in queue and "data-bulk-approve" in queue and "waiting for you" in queue
    assert 'id="approve-form"' in page and 'id="reject"' in page


def _pending_for(group: str):
    return ProposedActionFactory(
        status="pending_approval", approver_group=Group.objects.get_or_create(name=group)[0], risk_level="low"
    )
