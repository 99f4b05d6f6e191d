"""The daily digest: one email per approver per day, from the digest hour, listing their queue."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail

from approvals.selectors import actions_queue
from notifications.models import Notification
from notifications.services import notifications_send_digests
from tests.factories import ProposedActionFactory, UserFactory

pytestmark = pytest.mark.django_db

MORNING = datetime.now(UTC).replace(hour=8, minute=5, second=0, microsecond=0)


def _pending(group, **kwargs):
    return ProposedActionFactory(approver_group=group, **{"status": "pending_approval", **kwargs})


@pytest.fixture
def queues(team):
    support = Group.objects.get_or_create(name="Support leads")[0]
    support_lead = UserFactory(username="lea")
    support_lead.groups.add(support)
    for i in range(12):
        due = MORNING + timedelta(minutes=-30 if i < 2 else 60 + i)
        _pending(team.group, sla_due_at=due, confidence=0.6 + i / 100)
    support_item = _pending(support, sla_due_at=MORNING + timedelta(hours=2))
    unrouted = _pending(None)
    _pending(team.group, status="approved", approved_payload_sha256="x" * 64)  # decided: not listed
    return support_lead, support_item, unrouted


def _mail_to(address):
    (message,) = [m for m in mail.outbox if m.to == [address]]
    return message


def test_each_approver_gets_the_count_overdue_and_top_ten_of_their_queue(team, config, queues):
    _, support_item, unrouted = queues

    summary = notifications_send_digests(now=MORNING)

    assert sorted(m.to[0] for m in mail.outbox) == [
        "lea@example.com",
        "liam@example.com",
        "sofia@example.com",
    ]
    assert summary.sent == 3
    sofia = _mail_to("sofia@example.com")
    assert re.search(r"Your approval queue on .*: 13 pending, 2 overdue$", sofia.subject)
    assert sofia.body.startswith("Hello Sofia,")
    listed = [int(pk) for pk in re.findall(r"https://agentops\.example\.com/approvals/(\d+)/", sofia.body)]
    assert listed == [a.pk for a in actions_queue(user=team.owner, now=MORNING)][:10]
    assert sofia.body.count("OVERDUE") == 2

    lea = _mail_to("lea@example.com")
    assert lea.subject.endswith(": 2 pending, 0 overdue")
    assert {int(pk) for pk in re.findall(r"/approvals/(\d+)/", lea.body)} == {support_item.pk, unrouted.pk}
    assert set(Notification.objects.values_list("kind", "status")) == {("digest", "sent")}


def test_it_goes_out_once_a_day_from_the_digest_hour(team, config, queues):
    assert notifications_send_digests(now=MORNING - timedelta(minutes=10)).sent == 0
    assert notifications_send_digests(now=MORNING).sent == 3
    assert notifications_send_digests(now=MORNING + timedelta(hours=3)).sent == 0
    assert notifications_send_digests(now=MORNING + timedelta(days=1)).sent == 3
    assert len(mail.outbox) == 6


def test_the_digest_hour_is_data(team, config, queues):
    config.digest_hour_utc = 9
    config.save()
    assert notifications_send_digests(now=MORNING).sent == 0
    assert notifications_send_digests(now=MORNING + timedelta(hours=1)).sent == 3


def test_nobody_without_waiting_items_or_an_address_gets_one(team, config):
    _pending(Group.objects.create(name="Empty team"), status="rejected")
    assert notifications_send_digests(now=MORNING).sent == 0

    config.email_enabled = False
    config.save()
    _pending(team.group)
    assert notifications_send_digests(now=MORNING).sent == 0
    assert mail.outbox == []
