"""Issue 6's and issue 8's Done-when for outbound execution, against the HubSpot sandbox over HTTP:
1,000 approved actions under 20% 5xx, 5% timeouts and 429 bursts give exactly 1,000 effects; a
worker killed with SIGKILL mid-batch and started again still gives exactly 1,000; a kill switch
flipped mid-batch stops every call not yet started, and a resume executes the held work once.
The last two run the executor as ``manage.py execute_actions`` in a child process.

These are the heavy tests of the suite (tens of seconds each); they run in it, never skipped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from django.db import connection as db_connection

from approvals.models import ProposedAction
from connectors.execution import actions_execute
from connectors.models import ExecutionAttempt
from connectors.sandbox.hubspot import HubSpotSandbox
from connectors.sandbox.server import FaultConfig
from tests.child_database import child_database_url
from tests.connectors.execution_world import (
    approved_tasks,
    fast_settings,
    hubspot_world,
    sandbox_contacts,
    seed_rows,
)

ROOT = Path(__file__).resolve().parents[2]
FAULTS = FaultConfig(
    server_error=0.20,
    timeout=0.05,
    timeout_seconds=0.3,
    rate_limited=0.02,
    rate_limited_burst=4,
    after_effect=0.5,  # half the 5xx and timeouts come after the task was created
    seed=6,
)


def workers() -> int:
    return 6 if db_connection.vendor == "postgresql" else 1


def markers(app: HubSpotSandbox) -> Counter[str]:
    return Counter(t["properties"].get("agentops_marker") for t in app.tables["tasks"].values())


@pytest.mark.django_db(transaction=True)
def test_1000_actions_under_faults_all_complete_with_exactly_1000_effects(serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=1000, timeout=0.15)
    ids = approved_tasks(1000)
    world.app.faults.configure(FAULTS)

    summary = actions_execute(settings=fast_settings(), workers=workers())

    statuses = Counter(ProposedAction.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {"executed": 1000}
    assert world.tasks_created() == 1000
    assert set(markers(world.app).values()) == {1}
    outcomes = Counter(ExecutionAttempt.objects.values_list("outcome", flat=True))
    assert outcomes["unknown"] > 10 and outcomes["found"] > 0  # the faults bit, and the checks found effects
    responses = world.app.responses
    assert responses["429"] > 0 and responses["503"] > 0 and responses["dropped"] > 0
    print(
        f"\n1000 actions under faults in {summary.seconds:.1f}s ({1000 / summary.seconds:.0f}/s), {dict(outcomes)}"
    )


# The executor runs as ``manage.py execute_actions`` in a child process, on a database both processes
# see (the test database on PostgreSQL, a file copy of it on SQLite), so it can be killed with SIGKILL
# and so a kill switch can be flipped from outside while it runs, as an operator would.
SEED = """
import json, sys, django
django.setup()
from tests.connectors.execution_world import approved_tasks, seed_rows
url, contacts, timeout = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
seed_rows(url, contacts, timeout=timeout)
approved_tasks(len(contacts))
"""
REPORT = """
import json, django
django.setup()
from collections import Counter
from approvals.models import ProposedAction
from connectors.models import ActionExecution, ExecutionAttempt
print(json.dumps({
    "statuses": Counter(ProposedAction.objects.values_list("status", flat=True)),
    "outcomes": Counter(ExecutionAttempt.objects.values_list("outcome", flat=True)),
    "holds": Counter(ActionExecution.objects.filter(done=False).values_list("hold_reason", flat=True)),
}))
"""
SWITCH = """
import sys, django
django.setup()
from django.utils import timezone
from connectors.models import ActionExecution
from operations.services import kill_switch_set
engaged = sys.argv[1] == "on"
kill_switch_set(scope="global", engaged=engaged, actor="olivia", reason="vendor incident drill")
if not engaged:
    ActionExecution.objects.filter(done=False).update(due_at=timezone.now())  # as the next scheduled run finds them
"""
EXECUTE = [
    "manage.py", "execute_actions", "--lease-seconds", "3", "--backoff-base", "0.02", "--backoff-cap", "0.5",
    "--breaker-open-seconds", "0.1", "--breaker-probe-seconds", "1", "--idle-seconds", "1.5",
    "--max-attempts", "15", "--batch-size", "10", "--workers",
]  # fmt: skip


def child_workers() -> str:
    return str(6 if db_connection.vendor == "postgresql" else 2)


def _child_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agentops.settings", "PYTHONPATH": str(ROOT)}
    env["DATABASE_URL"] = child_database_url(tmp_path / "executor.sqlite3")
    return env


def _django(env: dict[str, str], code: str, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


class GatedHubSpot(HubSpotSandbox):
    """Holds task creations once ``gate_after`` tasks exist, until ``gate`` is set: the calls under
    way stay under way while the test flips the switch from another process, however slowly."""

    def __init__(self, gate_after: int) -> None:
        self.gate = threading.Event()
        self.gate_after = gate_after
        super().__init__()

    def create(self, request):
        if request.params["object_type"] == "tasks" and self.effects[("create", "tasks")] >= self.gate_after:
            self.gate.wait(60)
        return super().create(request)


def _sandbox_world(
    serve_sandbox, tmp_path: Path, count: int, app: HubSpotSandbox | None = None, timeout: float = 0.15
) -> tuple[object, dict[str, str]]:
    sandbox = serve_sandbox(app or HubSpotSandbox())
    sandbox.app.rate_limit = None
    env = _child_env(tmp_path)
    _django(env, SEED, sandbox.url, json.dumps(sandbox_contacts(sandbox.url, count)), str(timeout))
    return sandbox, env


def _start_executor(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, *EXECUTE, child_workers()], cwd=ROOT, env=env, stdout=out, stderr=out
        )


def _run_executor(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, *EXECUTE, child_workers()],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )


def _assert_each_action_took_effect_once(sandbox, env: dict[str, str], count: int) -> dict:
    report = json.loads(_django(env, REPORT))
    assert report["statuses"] == {"executed": count}
    assert sandbox.app.effects[("create", "tasks")] == count
    assert set(markers(sandbox.app).values()) == {1}
    return report


def _wait_for_effects(sandbox, worker: subprocess.Popen, log: Path, at_least: int) -> None:
    deadline = time.monotonic() + 120
    while (
        sandbox.app.effects[("create", "tasks")] < at_least
        and time.monotonic() < deadline
        and worker.poll() is None
    ):
        time.sleep(0.01)
    assert worker.poll() is None, log.read_text()[-3000:]


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_and_restarted_still_gives_exactly_1000_effects(serve_sandbox, tmp_path):
    sandbox, env = _sandbox_world(serve_sandbox, tmp_path, 1000)
    sandbox.app.faults.configure(replace(FAULTS, timeout_seconds=0.3))
    log = tmp_path / "worker.log"

    worker = _start_executor(env, log)
    _wait_for_effects(sandbox, worker, log, 300)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    killed_at = sandbox.app.effects[("create", "tasks")]
    assert 300 <= killed_at < 1000

    started = time.monotonic()
    _run_executor(env)
    restarted_for = time.monotonic() - started

    report = _assert_each_action_took_effect_once(sandbox, env, 1000)
    print(
        f"\nkilled after {killed_at} effects; the restart took {restarted_for:.1f}s; attempts {report['outcomes']}"
    )


@pytest.mark.django_db(transaction=True)
def test_a_kill_switch_flipped_mid_batch_stops_every_call_not_started_and_a_resume_runs_the_rest_once(
    serve_sandbox, tmp_path
):
    # A patient client: the calls held at the gate stay under way instead of timing out.
    sandbox, env = _sandbox_world(serve_sandbox, tmp_path, 300, GatedHubSpot(gate_after=60), timeout=30)
    log = tmp_path / "worker.log"

    worker = _start_executor(env, log)
    _wait_for_effects(sandbox, worker, log, 60)
    _django(env, SWITCH, "on")  # returns once the switch is committed
    at_switch = sandbox.app.request_count
    sandbox.app.gate.set()  # the calls under way complete
    worker.wait(timeout=120)  # it stops once nothing is due: the rest is held

    # Only calls already under way when the switch flipped (one per worker at most) reached the vendor.
    assert sandbox.app.request_count - at_switch <= int(child_workers())
    report = json.loads(_django(env, REPORT))
    done = sandbox.app.effects[("create", "tasks")]
    assert report["statuses"] == {"executed": done, "approved": 300 - done} and done < 300
    assert list(report["holds"]) == ["kill switch on (global): vendor incident drill"]

    _django(env, SWITCH, "off")
    _run_executor(env)

    _assert_each_action_took_effect_once(sandbox, env, 300)


class HeldHubSpot(HubSpotSandbox):
    """Holds task creations while ``gate`` is clear and counts the calls it holds: the test knows
    when calls of both executor processes are under way, and a killed one's call still takes effect
    after it died (as a vendor finishes a request whose client has gone)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.held = 0
        self._held_lock = threading.Lock()
        super().__init__()

    def create(self, request):
        if request.params["object_type"] == "tasks" and not self.gate.is_set():
            with self._held_lock:
                self.held += 1
            self.gate.wait(60)
        return super().create(request)


def _calls_by_action(log: Path) -> dict[int, list[float]]:
    """When the process logging to ``log`` (LOG_FORMAT=json) called the vendor for each action (epoch
    seconds): ExecutionAttempt has no worker column, and every connector call is logged with its
    action by the process that made it. A killed process's last line may be cut short."""
    calls: dict[int, list[float]] = {}
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("logger") == "connectors.calls" and entry.get("action_id"):
            moment = datetime.fromisoformat(entry["ts"]).timestamp()
            calls.setdefault(int(entry["action_id"]), []).append(moment)
    return calls


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_executor_processes_claim_disjoint_work_at_once_and_a_kill_9_of_one_loses_and_repeats_nothing(
    serve_sandbox, tmp_path
):
    # Given 450 approved tasks (seeded here: the processes share the test database) and two
    # executor processes started together on the same queue, six threads each; the client waits
    # 2 s for an answer, so a lease lasts 10 s.
    count, workers = 450, int(child_workers())
    sandbox = serve_sandbox(HeldHubSpot())
    sandbox.app.rate_limit = None
    seed_rows(sandbox.url, sandbox_contacts(sandbox.url, count), timeout=2.0)
    ids = approved_tasks(count)
    env = {**_child_env(tmp_path), "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    logs = [tmp_path / "first.log", tmp_path / "second.log", tmp_path / "restarted.log"]
    first, second = _start_executor(env, logs[0]), _start_executor(env, logs[1])

    # When a third of the tasks exist, the vendor holds the next creations; once more calls are
    # held than one process has threads, each process has a call under way: the first is killed.
    # The gate opens well before the client's 2 s are up, so no held call times out on its client.
    _wait_for_effects(sandbox, first, logs[0], count // 3)
    sandbox.app.gate.clear()
    closed = time.monotonic()
    while sandbox.app.held <= workers and time.monotonic() < closed + 1.2:
        time.sleep(0.002)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at, held_for = time.time(), time.monotonic() - closed
    sandbox.app.gate.set()  # the dead process's calls take effect now, unanswered
    assert sandbox.app.held > workers, (sandbox.app.held, held_for)
    restarted = _start_executor(env, logs[2])
    assert second.wait(timeout=120) == 0 and restarted.wait(timeout=120) == 0, logs[1].read_text()[-3000:]

    # Then both processes called the vendor while the other was running, never for the same action
    # until the kill; afterwards only the killed one's unfinished actions were taken over.
    by_first, by_second = _calls_by_action(logs[0]), _calls_by_action(logs[1])
    before_kill = {a for a, moments in by_second.items() if min(moments) < killed_at}
    assert by_first and before_kill
    assert not set(by_first) & before_kill
    first_moments = sorted(m for moments in by_first.values() for m in moments)
    second_moments = sorted(m for moments in by_second.values() for m in moments if m < killed_at)
    assert sum(second_moments[0] < m < second_moments[-1] for m in first_moments) > workers
    assert sum(first_moments[0] < m < first_moments[-1] for m in second_moments) > workers
    # And each action took effect exactly once: the killed process's calls under way were found by
    # their marker when their leases were taken over, not repeated.
    statuses = Counter(ProposedAction.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {"executed": count}
    assert sandbox.app.effects[("create", "tasks")] == count
    assert set(markers(sandbox.app).values()) == {1}
    outcomes = Counter(ExecutionAttempt.objects.values_list("outcome", flat=True))
    assert outcomes["found"] >= 1, outcomes
    stopped = set(
        ExecutionAttempt.objects.filter(
            error="the worker stopped before the outcome was recorded"
        ).values_list("action_id", flat=True)
    )
    assert stopped and not stopped & before_kill  # the killed process's own calls, cut off mid-batch
    print(
        f"\n{len(by_first)} actions called by the killed process, {len(before_kill)} by the other before "
        f"the kill; {sandbox.app.held} calls held for {held_for:.2f} s; attempts {dict(outcomes)}"
    )
