"""`make serve` end to end: scripts/serve.sh brings up the production-shaped stack (gunicorn with two
workers, django-q2 on Redis, PostgreSQL), each issue #10 benchmark runs its smoke against it with its
correctness checks, and the stack shuts down leaving no process behind.

The stack is PostgreSQL + Redis by definition, so this runs whatever database the suite itself uses:
the stack gets a PostgreSQL database of its own (recreated) and Redis db 4.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from _stack import Stack, database_url, flush_redis, free_port, fresh_database  # noqa: E402

# Fixed Redis databases, named PostgreSQL databases or child processes: one xdist worker at a time.
pytestmark = pytest.mark.xdist_group("serve-stack")
REDIS_URL = "redis://127.0.0.1:6379/4"
BENCHES = ("bench_approval_api.py", "bench_webhook_ingest.py", "bench_pages_1m.py")


def _smoke(bench: str, stack: Stack) -> dict:
    """Run ``bench --smoke`` against the running stack; its figures, or the failure with its output."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / bench),
            "--smoke",
            "--port",
            str(stack.port),
            "--database-url",
            stack.database_url,
            "--redis-url",
            stack.redis_url,
        ],
        cwd=ROOT,
        env={**os.environ, "BENCH_STACK_SECRET_KEY": stack.secret_key},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and results, f"{bench} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(results[-1].split(" ", 2)[2])


@pytest.fixture
def stack():
    stack = Stack(port=free_port(), database_url=database_url("h4_serve_smoke"), redis_url=REDIS_URL)
    fresh_database(stack.database_url)
    flush_redis(stack.redis_url)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def test_it_serves_the_benchmark_smokes_and_stops_cleanly(stack):
    with urllib.request.urlopen(f"{stack.url}/readyz", timeout=5) as answer:  # noqa: S310 - 127.0.0.1
        ready = json.load(answer)
    assert ready["checks"]["database"]["ok"] and ready["checks"]["broker"]["ok"]
    assert len(stack.processes()) >= 5, "bash, gunicorn and its two workers, the task cluster"

    figures = {bench: _smoke(bench, stack) for bench in BENCHES}

    assert all(f["ok"] for f in figures.values()), figures
    assert figures["bench_approval_api.py"]["decisions_per_s"] > 0
    assert figures["bench_webhook_ingest.py"]["acked_per_s"] > 0
    assert figures["bench_pages_1m.py"]["approval queue"]["queries"] > 0
    assert stack.stop() == [], "processes outlived the stack"
    # serve.sh ends on SIGTERM once its web and task processes have stopped (143: ended by SIGTERM).
    assert stack.process is not None and stack.process.returncode in (0, 143)


def test_it_runs_the_sdr_loop_smoke():
    """Benchmark 1 (bench/bench_sdr_loop.py) starts its own two task workers and HubSpot sandbox; its
    smoke entry point recreates the database and flushes the Redis db it is given, and raises with
    the benchmark's output when one of its correctness checks fails."""
    import bench_sdr_loop

    figures = bench_sdr_loop.smoke(database_url=database_url("h4_serve_smoke_sdr"), redis_url=REDIS_URL)
    assert figures, "the SDR loop printed no figures"
