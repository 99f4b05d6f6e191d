"""Kill switches and quotas on the database: logged changes, fresh reads at execution time."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import ProposedAction
from audit.models import DecisionLogEntry
from operations.gate import Work
from operations.models import KillSwitch, Quota
from operations.selectors import execution_admission
from operations.services import SwitchError, kill_switch_set
from tests.factories import LeadFactory, ProposedActionFactory, UserFactory

pytestmark = pytest.mark.django_db

WORK = Work(kind="send_email", connector="HubSpot prod", agent="sdr-agent:cadences", sdr="sam")


def test_engaging_a_switch_holds_work_at_once_and_releasing_lets_it_run():
    assert execution_admission(WORK).allowed
    kill_switch_set(
        scope="connector", target="HubSpot prod", engaged=True, actor="olivia", reason="429 storm"
    )
    held = execution_admission(WORK)
    assert (held.allowed, held.hold) == (False, "switch")
    assert "429 storm" in held.reason
    kill_switch_set(
        scope="connector", target="HubSpot prod", engaged=False, actor="olivia", reason="recovered"
    )
    assert execution_admission(WORK).allowed
    assert KillSwitch.objects.count() == 1


def test_every_change_is_logged_with_who_and_why():
    switch = kill_switch_set(scope="global", engaged=True, actor="olivia", reason="incident 12")
    entry = DecisionLogEntry.objects.get(event_type="kill_switch.changed")
    assert (entry.actor, entry.subject_id) == ("olivia", str(switch.pk))
    assert entry.action_taken == {
        "scope": "global",
        "target": "",
        "from": False,
        "to": True,
        "reason": "incident 12",
    }
    assert switch.history.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"scope": "planet", "target": ""}, "scope"),
        ({"scope": "global", "target": "x"}, "target"),
        ({"scope": "config_changes", "target": "sales.PlaybookRule"}, "target"),
        ({"scope": "callbacks", "target": "crm-bot"}, "target"),
        ({"scope": "agent", "target": " "}, "target"),
        ({"scope": "global", "target": "", "reason": ""}, "reason"),
    ],
)
def test_bad_changes_are_refused_naming_the_field(kwargs, field):
    kwargs = {"reason": "because", **kwargs}
    with pytest.raises(SwitchError) as caught:
        kill_switch_set(engaged=True, actor="olivia", **kwargs)
    assert caught.value.field == field
    assert not KillSwitch.objects.exists()


def test_quotas_count_automated_executions_in_their_window():
    Quota.objects.create(
        name="Emails per hour", scope="action_kind", target="send_email", window="hour", limit=2
    )
    now = timezone.now()
    owner = UserFactory(username="sam")
    for minutes in (90, 30, 5):
        action = ProposedActionFactory(kind="send_email", lead=LeadFactory(owner=owner), status="failed")
        ProposedAction.objects.filter(pk=action.pk).update(
            execution_started_at=now - timedelta(minutes=minutes)
        )
    held = execution_admission(WORK, now=now)
    assert (held.allowed, held.hold) == (False, "quota")
    assert held.retry_at == now - timedelta(minutes=30) + timedelta(hours=1)
    assert execution_admission(Work(kind="create_task"), now=now).allowed


def test_the_admin_switches_through_the_service(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:operations_killswitch_add"),
        {"scope": "action_kind", "target": "send_email", "reason": "copy review"},
    )
    assert response.status_code == 302
    switch = KillSwitch.objects.get()
    assert (switch.engaged, switch.changed_by) == (False, "root")
    client.post(
        reverse("admin:operations_killswitch_changelist"),
        {"action": "engage", "_selected_action": [switch.pk]},
    )
    switch.refresh_from_db()
    assert switch.engaged
    assert DecisionLogEntry.objects.filter(event_type="kill_switch.changed").count() == 2
