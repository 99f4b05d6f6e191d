"""Issue 21's reliability defects of the outbox, each reproduced against the HubSpot sandbox over
HTTP: one poller runs every kind, an operator's retry gets a whole budget, a crash backs off, a
call that outlived its lease cannot settle, and concurrent workers never overshoot a quota."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from approvals.models import ProposedAction
from audit.models import DecisionLogEntry
from connectors.execution import (
    action_execution_retry,
    actions_execute,
    execution_run,
    executions_claim,
    executions_enqueue,
)
from connectors.models import ActionExecution, Connection, ExecutionAttempt
from connectors.sandbox.server import FaultConfig
from operations.change_control import change_propose
from operations.models import ChangeControl, Quota
from sales.demo_playbook import demo_playbook_ensure
from sales.models import PlaybookRule
from tests.connectors.execution_world import approved_tasks, fast_settings, hubspot_world
from tests.factories import UserFactory, payload_seen

pytestmark = pytest.mark.django_db


def _terminal_entries(action_id: int) -> list[str]:
    return [
        entry.action_taken["to"]
        for entry in DecisionLogEntry.objects.filter(
            subject_type="proposed_action", subject_id=action_id
        ).order_by("pk")
        if entry.action_taken.get("to") in ("executed", "failed", "cancelled")
    ]


def test_an_approved_config_change_is_applied_by_the_one_poller_not_failed_for_want_of_a_route(
    serve_sandbox,
):
    """The connector executor used to pick ``config_change`` up and fail it with ``no_route``."""
    from approvals.services import action_approve

    hubspot_world(serve_sandbox, leads=1)
    ChangeControl.objects.update_or_create(
        model_label="sales.PlaybookRule", defaults={"requires_second_person": True}
    )
    demo_playbook_ensure()
    rule = PlaybookRule.objects.order_by("priority").first()
    olivia = UserFactory(username="olivia", is_staff=True)
    action = change_propose(
        model_label="sales.PlaybookRule", object_id=rule.pk, before={"priority": rule.priority},
        after={"priority": 3}, risk_note="Runs first.", user=olivia, object_repr=str(rule),
    )  # fmt: skip
    action_approve(
        action_id=action.pk, user=UserFactory(username="sofia"), seen_payload_sha256=payload_seen(action.pk)
    )

    actions_execute(settings=fast_settings())

    action.refresh_from_db()
    assert action.status == "executed", ActionExecution.objects.filter(action=action).first()
    rule.refresh_from_db()
    assert rule.priority == 3


def test_an_operators_retry_gets_a_whole_budget_of_attempts(serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=1)
    [action_id] = approved_tasks(1)
    world.app.faults.configure(FaultConfig(server_error=1.0, path_pattern="tasks"))
    settings = fast_settings(max_attempts=3)

    actions_execute(settings=settings)
    assert ProposedAction.objects.get(pk=action_id).status == "failed"
    assert ExecutionAttempt.objects.filter(action_id=action_id).count() == 3

    action_execution_retry(action_id=action_id, actor="user:olivia")
    actions_execute(settings=settings)

    assert ProposedAction.objects.get(pk=action_id).status == "failed"
    # Three more attempts, not one: the budget counts from the retry.
    assert ExecutionAttempt.objects.filter(action_id=action_id).count() == 6


def test_an_unexpected_error_backs_off_instead_of_spinning(serve_sandbox, caplog):
    """A decryption error (credentials sealed with a key that was removed) is not a ConnectorError:
    the execution used to go back due at once and be claimed again in a tight loop."""
    world = hubspot_world(serve_sandbox, leads=1)
    [action_id] = approved_tasks(1)
    Connection.objects.filter(pk=world.connection.pk).update(credentials_encrypted="gAAAAAnot-a-token")
    stop = threading.Event()
    timer = threading.Timer(1.5, stop.set)
    timer.start()
    caplog.set_level(logging.ERROR, logger="connectors.execution")
    try:
        actions_execute(settings=fast_settings(idle_seconds=5.0), stop=stop)
    finally:
        timer.cancel()

    crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert len(crashes) == 1
    execution = ActionExecution.objects.get(action_id=action_id)
    assert execution.due_at > timezone.now() + timedelta(seconds=10)
    assert execution.lease_token == ""
    assert "DecryptionError" in execution.last_error
    assert ProposedAction.objects.get(pk=action_id).status == "approved"


@pytest.mark.django_db(transaction=True)
def test_a_call_that_outlived_its_lease_cannot_settle_the_action(serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=1, timeout=3.0)
    [action_id] = approved_tasks(1)
    world.app.faults.configure(FaultConfig(slow_seconds=1.0, path_pattern="tasks"))
    executions_enqueue()
    settings = fast_settings()
    [execution_id] = executions_claim(token="worker-a", limit=1, lease_seconds=5)
    results: dict[str, object] = {}

    def worker_a() -> None:
        try:
            results["a"] = execution_run(execution_id=execution_id, token="worker-a", settings=settings)
        except Exception as exc:  # noqa: BLE001 (the old code raised on the second settlement)
            results["a"] = exc
        finally:
            connections.close_all()

    requests_before = world.app.request_count
    thread = threading.Thread(target=worker_a)
    thread.start()
    # Worker A is paused mid-call for longer than its lease (a stalled machine): the lease runs out
    # and worker B takes the execution over and carries it out. The wait watches the vendor, not the
    # database: on SQLite's shared in-memory database a read during A's start transaction is refused
    # ("table is locked") instead of waiting for it.
    deadline = time.monotonic() + 5
    while world.app.request_count == requests_before:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert ExecutionAttempt.objects.filter(action_id=action_id).exists()
    ActionExecution.objects.filter(pk=execution_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    [taken] = executions_claim(token="worker-b", limit=1, lease_seconds=5)
    world.app.faults.configure(FaultConfig())
    outcome_b = execution_run(execution_id=taken, token="worker-b", settings=settings)
    thread.join(10)

    assert outcome_b.status == "executed"
    assert getattr(results["a"], "status", results["a"]) == "skipped"
    assert _terminal_entries(action_id) == ["executed"]
    assert ProposedAction.objects.get(pk=action_id).status == "executed"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_start_more_calls_than_the_quota_allows(serve_sandbox):
    """The quota was read outside the transaction that starts the call: worker A passed it, and
    worker B passed it too before A's start committed."""
    hubspot_world(serve_sandbox, leads=2)
    first, second = approved_tasks(2)
    Quota.objects.create(name="one task", scope="action_kind", target="create_task", window="hour", limit=1)
    executions_enqueue()
    settings = fast_settings()
    ex_a = ActionExecution.objects.get(action_id=first).pk
    ex_b = ActionExecution.objects.get(action_id=second).pk
    ActionExecution.objects.filter(pk=ex_a).update(
        lease_until=timezone.now() + timedelta(seconds=30), lease_token="a"
    )
    ActionExecution.objects.filter(pk=ex_b).update(
        lease_until=timezone.now() + timedelta(seconds=30), lease_token="b"
    )
    outcomes: dict[str, str] = {}

    def run(name: str, pk: int) -> None:
        try:
            outcomes[name] = execution_run(execution_id=pk, token=name, settings=settings).status
        finally:
            connections.close_all()

    # A third party holds action A's row, so worker A stops between its quota check and its start.
    blocker = connections.create_connection("default")
    blocker.set_autocommit(False)
    with blocker.cursor() as cursor:
        cursor.execute("SELECT id FROM approvals_proposedaction WHERE id = %s FOR UPDATE", [first])
    thread_a = threading.Thread(target=run, args=("a", ex_a))
    thread_a.start()
    time.sleep(0.5)
    thread_b = threading.Thread(target=run, args=("b", ex_b))
    thread_b.start()
    time.sleep(0.5)
    blocker.rollback()
    blocker.close()
    thread_a.join(10)
    thread_b.join(10)

    started = ProposedAction.objects.filter(pk__in=[first, second], execution_started_at__isnull=False)
    assert started.count() == 1, outcomes
    assert sorted(outcomes.values()) == ["executed", "held"]


def test_the_scheduled_executor_starts_one_outbox_run_per_slot(settings):
    """Each slot is its own ledger run, so several task workers execute at once (disjoint claims)."""
    from django_q.models import OrmQ

    from connectors.tasks import execute_actions_task

    settings.AGENTOPS_EXECUTOR_SLOTS = 3
    execute_actions_task()

    queued = sorted((q.task["func"].ledger_path, q.task["args"]) for q in OrmQ.objects.all())
    assert queued == [
        ("connectors.tasks.execute_actions_task", (1,)),
        ("connectors.tasks.execute_actions_task", (2,)),
    ]
    execute_actions_task(1)  # a slot's run queues no more
    assert OrmQ.objects.count() == 2
