"""Issue #10's task semantics under failure, with a real ``manage.py qcluster``: a worker killed with
SIGKILL mid-task (its whole process group, as when a container dies) loses nothing and duplicates
nothing once the reaper retries the run; a task failing every time ends failed after the set attempts
and is never retried again.

On PostgreSQL the cluster uses Redis (db 8), whose broker forgets a task a dead worker had taken: the
ledger is what brings it back. On SQLite it uses the ORM broker on a migrated file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection as db_connection

from tests.child_database import child_database_url

ROOT = Path(__file__).resolve().parents[2]
# Fixed Redis databases, named PostgreSQL databases or child processes: one xdist worker at a time.
pytestmark = pytest.mark.xdist_group("task-failures")
REDIS_URL = os.environ.get("H8_REDIS_URL", "redis://127.0.0.1:6379/8")
LEASE = 20


def child_env(tmp_path: Path, *, lease: int) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agentops.settings", "PYTHONPATH": str(ROOT)}
    # The worker timeout must be shorter than the lease, or the workers refuse every ledgered task.
    env.update({"Q_WORKERS": "2", "AUDIT_SEAL_ON_COMMIT": "false", "Q_TIMEOUT": str(lease - 1)})
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    if db_connection.vendor == "postgresql":
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()  # this test's own Redis database
        env["REDIS_URL"] = REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    env["DATABASE_URL"] = child_database_url(tmp_path / "cluster.sqlite3")
    return env


def child(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.taskruns.ledger_child", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_cluster(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        # Its own process group: the kill takes the sentinel and every worker process at once.
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


def stop_cluster(cluster: subprocess.Popen) -> None:
    """Stop the cluster as its parent's SIGTERM handler does, then kill whatever of its process group
    is left. (A SIGTERM to the whole group kills the sentinel outright, by its default action, and
    the parent then waits on it for ever: 30 s lost per test before the SIGKILL.)"""
    if cluster.poll() is None:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(cluster.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    cluster.wait(timeout=10)


@pytest.fixture
def clusters():
    started: list[subprocess.Popen] = []
    yield started
    for cluster in started:
        stop_cluster(cluster)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_task_is_retried_by_the_reaper_and_the_effect_happens_once(tmp_path, clusters):
    env = child_env(tmp_path, lease=LEASE)
    log = tmp_path / "qcluster.log"
    hold = tmp_path / "hold"
    hold.touch()
    args = ["killed", str(hold)]
    # Longer than the task is held alive before the kill (the cluster's own reaper schedule runs too,
    # and a lease shorter than a live task would rightly be taken for a dead worker's).
    child(env, "lease", str(LEASE), "3")
    clusters.append(start_cluster(env, log))

    child(env, "enqueue", "hold", *args)
    running = child(env, "wait", "hold", "running", "90", *args)
    assert running["status"] == "running" and running["started"] == 1, log.read_text()[-3000:]

    os.killpg(clusters[0].pid, signal.SIGKILL)  # kill -9, mid-task
    clusters[0].wait(timeout=10)
    hold.unlink()
    time.sleep(0.5)
    after_kill = child(env, "wait", "hold", "succeeded", "1", *args)
    assert after_kill["status"] == "running" and after_kill["effects"] == 0  # lost until the reaper acts

    clusters.append(start_cluster(env, log))
    # The reaper, passing as the cluster's every-minute schedule would (a transactional test earlier in
    # the suite may have flushed the schedule rows, so the test reaps itself until the run is done):
    # it retries the run once the dead worker's lease (LEASE s from when the attempt started) has run out.
    done = child(env, "reap-until", "hold", "succeeded", "150", *args)

    assert done["status"] == "succeeded", log.read_text()[-3000:]
    assert done["requeues"] >= 1 and done["attempts"] == done["started"] >= 2
    assert done["effects"] == 1  # started again after the kill, the effect exactly once
    assert child(env, "reap", "-") == {"retried": 0, "failed": 0, "pruned": 0}


@pytest.mark.django_db(transaction=True)
def test_a_task_failing_every_time_on_a_real_cluster_fails_after_3_attempts_and_stops(tmp_path, clusters):
    env = child_env(tmp_path, lease=3)
    log = tmp_path / "qcluster.log"
    child(env, "lease", "3", "3")
    clusters.append(start_cluster(env, log))

    child(env, "enqueue", "fails", "doomed")
    final = child(env, "reap-until", "fails", "failed", "120", "doomed")

    assert final["status"] == "failed", log.read_text()[-3000:]
    assert final["attempts"] == 3 and final["started"] == 3
    assert "attempt 3 of 3 raised" in final["error"] and "the vendor said no" in final["error"]
