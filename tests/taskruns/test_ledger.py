"""The task-run ledger: a lease per run, a bounded number of attempts, the reaper, and schedules
registered once. The worker is stood in for by ``deliver_queued``: it takes the tasks the reaper
queued (ORM broker) and runs each like a worker would (the ``pre_execute`` signal, then the call).
Killing a real qcluster worker is in test_task_failures.py."""

from __future__ import annotations

import importlib
import pydoc
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.core import checks
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import close_old_connections, connection
from django.db.migrations.loader import MigrationLoader
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule
from django_q.signals import post_execute_in_worker, pre_execute
from django_q.signing import SignedPackage

from taskruns.lease import Verdict, arguments_key, claim_verdict, reap_verdict
from taskruns.ledger import task_run_claim, task_runs_reap
from taskruns.models import TaskRun, TaskSettings
from tests.factories import UserFactory
from tests.taskruns.ledger_tasks import always_fails_task, effect_after_hold_task, effects

ROOT = Path(__file__).resolve().parents[2]
HOLD = "tests.taskruns.ledger_tasks.effect_after_hold_task"
FAILS = "tests.taskruns.ledger_tasks.always_fails_task"


def deliver_queued() -> list[object]:
    """Run every task waiting in the ORM broker once, as a worker would; returns their results."""
    results: list[object] = []
    for queued in OrmQ.objects.order_by("id"):
        task = SignedPackage.loads(queued.payload)
        queued.delete()
        pre_execute.send(sender="django_q", func=task["func"], task=task)
        func = task["func"] if callable(task["func"]) else pydoc.locate(task["func"])
        try:
            results.append(func(*task["args"], **task["kwargs"]))
        except RuntimeError as exc:
            results.append(exc)
        post_execute_in_worker.send(sender="django_q", func=func, task=task)
    return results


def run_of(func: str, *args: object) -> TaskRun:
    return TaskRun.objects.exclude(status="failed").get(func=func, key=arguments_key(list(args), {}))


# --- The rules, without the database --------------------------------------------------------------


def test_it_skips_a_live_lease_and_retries_an_expired_one_until_out_of_attempts():
    def verdict(status, lease_live=False, known=False, attempts=1):
        return claim_verdict(
            status=status, lease_live=lease_live, known_task=known, attempts=attempts, max_attempts=3
        )

    assert verdict(None) is Verdict.START
    assert verdict("running", lease_live=True) is Verdict.SKIP
    assert verdict("running", attempts=2) is Verdict.RETRY
    assert verdict("running", attempts=3) is Verdict.GIVE_UP
    assert verdict("retrying", attempts=1) is Verdict.RETRY
    assert verdict("succeeded", known=True) is Verdict.SKIP  # a late copy of the task that finished
    assert verdict("succeeded") is Verdict.START  # the next run, e.g. the schedule's next minute
    assert reap_verdict(attempts=2, requeues=1, max_attempts=3) is Verdict.RETRY
    assert reap_verdict(attempts=3, requeues=2, max_attempts=3) is Verdict.GIVE_UP
    assert reap_verdict(attempts=1, requeues=6, max_attempts=3) is Verdict.GIVE_UP  # retries never start


def test_it_keys_runs_by_their_arguments_whatever_their_spelling():
    assert arguments_key([1, (2, 3)], {"b": 1, "a": 2}) == arguments_key([1, [2, 3]], {"a": 2, "b": 1})
    assert arguments_key([1], {}) != arguments_key([2], {})


# --- Claims and outcomes --------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_records_a_run_that_succeeded():
    assert effect_after_hold_task("a") == "a"

    run = run_of(HOLD, "a", "")
    assert (run.status, run.attempts, run.args, run.lease_until) == ("succeeded", 1, ["a", ""], None)
    assert run.finished_at is not None and run.worker
    assert effects("a") == 1


@pytest.mark.django_db
def test_it_skips_a_second_claimant_while_the_lease_is_live():
    first = task_run_claim(func=HOLD, args=["b", ""], kwargs={}, task_id="q-1")
    assert first is not None

    assert effect_after_hold_task("b") is None  # another worker, same work, lease live: no effect

    assert effects("b", what="started") == 0 and effects("b") == 0
    assert run_of(HOLD, "b", "").attempts == 1


@pytest.mark.django_db
def test_a_late_copy_of_a_finished_task_is_skipped_and_the_next_run_starts_afresh():
    task = {"id": "q-42", "func": HOLD, "args": ("c", ""), "kwargs": {}}
    pre_execute.send(sender="django_q", func=HOLD, task=task)
    effect_after_hold_task("c")
    pre_execute.send(sender="django_q", func=HOLD, task=task)  # the broker delivers it again

    assert effect_after_hold_task("c") is None
    assert effects("c") == 1

    effect_after_hold_task("c")  # a new request (the schedule's next run): runs
    assert effects("c") == 2
    assert run_of(HOLD, "c", "").attempts == 1


# --- The reaper --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_reaper_retries_a_run_whose_worker_died_and_the_retry_makes_the_effect_once():
    later = timezone.now() + timedelta(seconds=TaskSettings.objects.get().lease_seconds + 1)
    claim = task_run_claim(func=HOLD, args=["d", ""], kwargs={}, task_id="q-1")  # then the worker died
    assert claim is not None

    assert task_runs_reap().as_dict() == {"retried": 0, "failed": 0, "pruned": 0}  # lease still live
    summary = task_runs_reap(now=later)

    assert summary.retried == 1
    run = run_of(HOLD, "d", "")
    assert run.status == "retrying" and "died or hung" in run.last_error
    assert deliver_queued() == ["d"]
    run.refresh_from_db()
    assert (run.status, run.attempts, run.requeues) == ("succeeded", 2, 1)
    assert effects("d") == 1
    assert task_runs_reap(now=later + timedelta(hours=1)).retried == 0


@pytest.mark.django_db
def test_a_task_failing_every_time_ends_failed_after_the_set_attempts_and_is_never_retried_again(client):
    TaskSettings.objects.update(max_attempts=3)

    with pytest.raises(RuntimeError, match="the vendor said no"):
        always_fails_task("e")
    for _ in range(5):  # more reaper passes than attempts
        task_runs_reap()
        deliver_queued()

    run = TaskRun.objects.get(func=FAILS)
    assert (run.status, run.attempts, run.lease_until) == ("failed", 3, None)
    assert "attempt 3 of 3 raised" in run.last_error and "the vendor said no" in run.last_error
    assert effects("e", what="started") == 3
    assert not OrmQ.objects.exists()

    # Shown in the admin with its error, and counted in /metrics.
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:taskruns_taskrun_changelist") + "?status__exact=failed")
    assert page.status_code == 200 and b"the vendor said no" in page.content
    assert b"agentops_task_runs_failed 1.0" in client.get(reverse("metrics")).content

    # A late copy of one of its tasks (a broker redelivering it) is skipped.
    task = {"id": run.task_ids[-1], "func": FAILS, "args": ("e",), "kwargs": {}}
    pre_execute.send(sender="django_q", func=FAILS, task=task)
    assert always_fails_task("e") is None
    assert effects("e", what="started") == 3

    # A new request for the same work is a new run; the failed one stays for people to read.
    with pytest.raises(RuntimeError):
        always_fails_task("e")
    assert list(TaskRun.objects.filter(func=FAILS).values_list("status", "attempts")) == [
        ("retrying", 1),
        ("failed", 3),
    ]


@pytest.mark.django_db
def test_the_reaper_gives_up_on_a_retry_that_is_queued_but_never_starts():
    TaskSettings.objects.update(max_attempts=2)
    task_run_claim(func=HOLD, args=["f", ""], kwargs={}, task_id="q-1")
    now = timezone.now()
    for minute in range(1, 10):  # the retries are lost (no worker takes them)
        task_runs_reap(now=now + timedelta(seconds=minute * 700))
        OrmQ.objects.all().delete()

    run = TaskRun.objects.get(func=HOLD)
    # A lost retry is queued again, at most twice the attempts allowed, then the run fails for good.
    assert (run.status, run.attempts, run.requeues) == ("failed", 1, 4)
    assert "never started" in run.last_error or "died or hung" in run.last_error


@pytest.mark.django_db
def test_the_reaper_deletes_old_succeeded_runs_and_keeps_failed_ones():
    effect_after_hold_task("g")
    with pytest.raises(RuntimeError):
        always_fails_task("g")
    TaskSettings.objects.update(max_attempts=1)
    task_runs_reap()  # the failed attempt was the last one allowed now: it fails for good
    in_8_days = timezone.now() + timedelta(days=8)

    assert task_runs_reap(now=in_8_days).pruned == 1
    assert list(TaskRun.objects.values_list("func", "status")) == [(FAILS, "failed")]


@pytest.mark.django_db
def test_the_settings_refuse_a_lease_shorter_than_the_worker_timeout():
    conf = TaskSettings.objects.get()
    conf.lease_seconds = 60
    with pytest.raises(ValidationError) as caught:
        conf.full_clean()
    assert "lease_seconds" in caught.value.message_dict
    assert "Q_TIMEOUT, the worker timeout (600 s)" in caught.value.message_dict["lease_seconds"][0]
    conf.lease_seconds, conf.max_attempts = 900, 5
    conf.full_clean()
    conf.save()
    assert conf.history.first().max_attempts == 5  # edited in the admin, with history


# --- A worker timeout not shorter than the lease ----------------------------------------------------
# A task still running when its lease runs out looks like a dead worker's: the reaper would start a
# second copy beside it. So the queue's timeout (Q_TIMEOUT) must end every attempt before its lease.


@pytest.fixture
def q_timeout(settings):
    def set_timeout(seconds: int | None) -> None:
        settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": seconds}

    return set_timeout


@pytest.mark.django_db
def test_a_worker_refuses_to_start_a_ledgered_task_when_q_timeout_is_not_shorter_than_the_lease(q_timeout):
    q_timeout(TaskSettings.objects.get().lease_seconds)  # 660 s, the default lease

    with pytest.raises(ImproperlyConfigured) as refused:
        effect_after_hold_task("t")

    assert str(refused.value) == (
        "Q_TIMEOUT (660 s) is not shorter than the task-run lease (task settings lease_seconds, 660 s): "
        "a task still running when its lease ends would be started a second time by the reaper; "
        "make the lease longer than Q_TIMEOUT (admin: Background tasks > Task settings) or lower Q_TIMEOUT"
    )
    assert effects("t", what="started") == 0 and not TaskRun.objects.exists()


@pytest.mark.django_db
def test_a_worker_refuses_to_start_a_ledgered_task_without_a_q_timeout(q_timeout):
    q_timeout(None)
    with pytest.raises(
        ImproperlyConfigured, match=r"^Q_TIMEOUT is not set: a task still running when its lease ends"
    ):
        effect_after_hold_task("t")
    assert effects("t", what="started") == 0


@pytest.mark.django_db
def test_a_worker_starts_a_ledgered_task_when_q_timeout_is_shorter_than_the_lease(q_timeout):
    q_timeout(659)
    effect_after_hold_task("t")
    assert effects("t") == 1 and run_of(HOLD, "t", "").status == "succeeded"


@pytest.mark.django_db
def test_the_system_check_reports_a_q_timeout_not_shorter_than_the_stored_lease(q_timeout):
    TaskSettings.objects.update(lease_seconds=900)
    q_timeout(900)
    [error] = [m for m in run_checks(databases=["default"]) if m.id == "taskruns.E001"]
    assert error.level == checks.ERROR
    assert error.msg.startswith("Q_TIMEOUT (900 s) is not shorter than the task-run lease (")
    assert error.msg.endswith("900 s)")

    q_timeout(899)
    assert [m for m in run_checks(databases=["default"]) if m.id == "taskruns.E001"] == []


@pytest.mark.django_db
def test_the_startup_checks_read_no_database(q_timeout, django_assert_num_queries):
    """qcluster runs them in its parent process: a connection opened there is shared by every
    forked worker (the serve stack's workers read each other's answers and stalled)."""
    TaskSettings.objects.update(lease_seconds=600)
    q_timeout(650)  # shorter than the default lease, not than the stored one
    with django_assert_num_queries(0):
        assert [m for m in run_checks() if m.id == "taskruns.E001"] == []


@pytest.mark.django_db
def test_the_system_check_reports_a_missing_q_timeout(q_timeout):
    q_timeout(None)
    assert [m.msg for m in run_checks() if m.id == "taskruns.E001"] == ["Q_TIMEOUT is not set"]


@pytest.mark.django_db
def test_the_admin_refuses_task_settings_with_a_lease_not_longer_than_q_timeout(client, q_timeout):
    q_timeout(600)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    conf = TaskSettings.objects.get()
    url = reverse("admin:taskruns_tasksettings_change", args=[conf.pk])

    page = client.post(url, {"max_attempts": 3, "lease_seconds": 600, "keep_days": 7})

    assert page.status_code == 200
    assert page.context["adminform"].form.errors == {
        "lease_seconds": [
            "must be longer than Q_TIMEOUT, the worker timeout (600 s), or a task still running when its "
            "lease ends would be started a second time by the reaper"
        ]
    }
    assert TaskSettings.objects.get().lease_seconds == 660
    assert client.post(url, {"max_attempts": 3, "lease_seconds": 601, "keep_days": 7}).status_code == 302
    assert TaskSettings.objects.get().lease_seconds == 601


# --- Concurrency ---------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reapers_at_once_queue_each_stuck_run_once():
    for n in range(30):
        task_run_claim(func=HOLD, args=[f"h{n}", ""], kwargs={}, task_id=f"q-{n}")
    later = timezone.now() + timedelta(seconds=TaskSettings.objects.get().lease_seconds + 1)
    barrier = threading.Barrier(2)
    summaries = []

    def reap() -> None:
        barrier.wait()
        try:
            summaries.append(task_runs_reap(now=later))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=reap) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(s.retried for s in summaries) == 30
    assert OrmQ.objects.count() == 30
    assert set(TaskRun.objects.values_list("status", "requeues")) == {("retrying", 1)}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_scheduled_task_at_once_make_one_effect(tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    results: list[object] = []

    def run() -> None:
        try:
            results.append(effect_after_hold_task("i", str(hold)))
        finally:
            close_old_connections()

    first = threading.Thread(target=run)
    first.start()
    while not TaskRun.objects.filter(func=HOLD, status="running").exists():
        pass
    second = threading.Thread(target=run)
    second.start()
    second.join()
    hold.unlink()
    first.join()

    assert results.count("i") == 1 and results.count(None) == 1
    assert effects("i") == 1


# --- Schedules ------------------------------------------------------------------------------------

#: The periodic work issue #10 names, by the task each schedule runs.
REQUIRED = {
    "approvals.tasks.escalate_overdue_task": "SLA escalation",
    "scoring.tasks.drift_check_task": "drift checks",
    "connectors.tasks.sync_connections_task": "sync fallback (incremental sync)",
    "connectors.tasks.inbound_sweep_task": "sync fallback (events a webhook missed)",
    "privacy.tasks.purge_expired_task": "retention purge",
    "operations.tasks.autopause_task": "auto-pause evaluation",
    "operations.tasks.reap_task_runs_task": "the task-run reaper",
}


def schedule_migrations() -> list[tuple[object, object]]:
    """Each data migration that registers a schedule, with the models as they were when it ran
    (its ``forward`` names them by app and model, and models move between apps)."""
    loader = MigrationLoader(connection)
    found = []
    for config in django_apps.get_app_configs():
        folder = Path(config.path) / "migrations"
        if not str(folder).startswith(str(ROOT)) or not folder.is_dir():
            continue
        for path in sorted(folder.glob("0*.py")):
            if '"django_q", "Schedule"' in path.read_text():
                module = importlib.import_module(f"{config.name}.migrations.{path.stem}")
                found.append((module, loader.project_state((config.label, path.stem)).apps))
    return found


@pytest.mark.django_db
def test_every_schedule_is_registered_once_and_running_the_migrations_again_adds_none():
    names = list(Schedule.objects.values_list("name", flat=True))
    funcs = list(Schedule.objects.values_list("func", flat=True))
    assert len(names) == len(set(names)) and len(funcs) == len(set(funcs))
    assert set(REQUIRED) <= set(funcs), {REQUIRED[f] for f in set(REQUIRED) - set(funcs)}

    migrations = schedule_migrations()
    assert len(migrations) >= 8
    for module, state in migrations:
        module.forward(state, None)  # as if migrate ran again, or a second worker ran it

    assert sorted(Schedule.objects.values_list("name", flat=True)) == sorted(names)


@pytest.mark.django_db
def test_every_scheduled_task_of_ours_goes_through_the_ledger():
    unledgered = []
    for func in Schedule.objects.values_list("func", flat=True):
        module, name = func.rsplit(".", 1)
        if not hasattr(getattr(importlib.import_module(module), name), "ledger_path"):
            unledgered.append(func)
    assert not unledgered
