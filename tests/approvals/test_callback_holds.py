"""Kill switches hold decision callbacks: while the global switch, the callbacks switch or a switch
on the proposing agent is engaged, nothing is sent and no attempt is counted; the same attempt is
rescheduled and goes out once the switch is released."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from approvals.models import ProposedAction
from approvals.services import action_callback_deliver, action_reject, action_route
from operations.services import kill_switch_set
from security.services import apikey_create
from tests.callback_receiver import CallbackReceiver
from tests.factories import ProposedActionFactory, UserFactory, user_in_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with CallbackReceiver() as server:
        yield server


@pytest.fixture
def rejected(settings, receiver):
    """A decided action of the integration ``crm-agent`` with a callback to the local receiver."""
    settings.AGENTOPS_CALLBACKS = True
    settings.AGENTOPS_CALLBACK_SECRET = "test-callback-secret-0123456789abcdef"
    settings.AGENTOPS_CALLBACK_HOSTS = ["127.0.0.1"]  # a developer's local receiver, named
    settings.AGENTOPS_CALLBACK_TIMEOUT = 2.0
    user = user_in_role("Integration accounts", username="crm-agent")
    apikey_create(user=user, name="CRM agent", scopes=["submit_actions"])
    action = ProposedActionFactory(
        callback_url=receiver.url, proposed_by="api:crm-agent", proposed_by_user=user
    )
    action_route(action_id=action.pk)
    action_reject(action_id=action.pk, user=UserFactory(username="sofia"), reason_code="wrong_action")
    return ProposedAction.objects.get(pk=action.pk)


@pytest.mark.parametrize(
    ("scope", "target"),
    [("global", ""), ("callbacks", ""), ("agent", "api:crm-agent"), ("agent", "api")],
)
def test_an_engaged_switch_holds_the_callback_and_releasing_it_lets_it_go(
    rejected, receiver, caplog, scope, target
):
    kill_switch_set(scope=scope, target=target, engaged=True, actor="olivia", reason="incident 9")

    with caplog.at_level("WARNING", logger="approvals.services"):
        assert action_callback_deliver(action_id=rejected.pk, attempt=2) == "held"

    assert receiver.bodies == []
    held = ProposedAction.objects.get(pk=rejected.pk)
    assert (held.callback_attempts, held.callback_last_error, held.callback_delivered_at) == (0, "", None)
    again = Schedule.objects.get(func="approvals.tasks.callback_deliver_task")
    assert again.args == f"({rejected.pk}, 2, 'rejected')"  # the same attempt, not counted as a failure
    assert timedelta(seconds=50) < again.next_run - timezone.now() < timedelta(seconds=70)
    assert "held: kill switch on" in caplog.text and "incident 9" in caplog.text

    kill_switch_set(scope=scope, target=target, engaged=False, actor="olivia", reason="resolved")
    assert action_callback_deliver(action_id=rejected.pk, attempt=2) == "delivered"
    assert len(receiver.bodies) == 1


@pytest.mark.parametrize(
    ("scope", "target"),
    [
        ("connector", "HubSpot prod"),
        ("action_kind", "enrol_cadence"),
        ("agent", "other-agent"),
        ("config_changes", ""),
    ],
)
def test_switches_on_other_work_do_not_hold_callbacks(rejected, receiver, scope, target):
    kill_switch_set(scope=scope, target=target, engaged=True, actor="olivia", reason="elsewhere")
    assert action_callback_deliver(action_id=rejected.pk) == "delivered"
    assert len(receiver.bodies) == 1
