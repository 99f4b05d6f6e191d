"""Benchmark: the execution stage of the SDR loop (issue 21): approved ``update_crm_fields`` actions
carried out by 2 executor processes (``manage.py execute_actions``) against the HubSpot sandbox at
its published limit. Target: at least 1,500 CRM records/s (80% of the 1,900/s the limit allows:
190 requests per rolling 10 s, 100 records per batch request).

Setup, not timed, on a PostgreSQL database of its own (recreated): the HubSpot sandbox in its own
process (``manage.py run_sandbox``, its rate limit on), a connection to it throttled to the same
limit (``options["rate_limit"]``, the connection's default utilisation of 90%, so our own cap is
171 requests per 10 s = 1,710 records/s), a route for ``update_crm_fields`` with that write scope,
N leads and one approved write per lead (bulk_create). Then both executors start at once, sharing
the queue (claims with ``SELECT … FOR UPDATE SKIP LOCKED``) and the throttle (the Redis store:
``REDIS_URL`` is set, a Redis db of its own, flushed), and the clock runs until both have exited
(each exits once nothing is left to do).

Figures: records/s over the execution span (the first attempt started → the last one finished,
from ``ExecutionAttempt``; process start-up left out, reported apart) and after the first 10 s (the
vendor's window starts empty, so 171 requests may go at once: a run of 20,000 records fits in it
almost whole; ``--records 60000`` shows the steady rate), requests sent and the share answered 429,
what each process executed (its own summary line), and the checks (exit status 1 when one fails):
every action executed, both processes executed some, no action attempted twice, one contact created
per action in the sandbox.

    .venv/bin/python bench/bench_outbox.py                      # 20,000 records, 2 processes
    .venv/bin/python bench/bench_outbox.py --records 60000      # the steady rate dominates
    .venv/bin/python bench/bench_outbox.py --phases             # + time per phase in each executor
    .venv/bin/python bench/bench_outbox.py --profile            # + cProfile of the first executor

``--phases`` runs each executor as ``execute_actions`` called from a small script that wraps the
phases of ``connectors.execution`` (claim, prepare, admission, throttle, start transaction, HTTP
call, conclude transaction) with timers and counts their SQL statements; it prints them per process.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pstats
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from _databases import ROOT, bench_databases, fresh_database
from _hubspot import crm_write_connection

DEFAULT_DATABASE_URL = bench_databases("outbox")["postgres"]
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
TARGET_RECORDS_PER_SECOND = 1_500
PAYLOAD = {"fields": {"hs_lead_status": "OPEN", "lifecyclestage": "marketingqualifiedlead"}}
RESULT_PREFIX = "PHASES "
MACHINE = "2 vCPU AMD EPYC, 24 GB, Python 3.11, PostgreSQL 15, Redis 7"

# The executor with its phases timed: run as ``python -c PHASES <execute_actions options>``. Each
# wrapper adds its wall time (and the SQL statements sent meanwhile) to its phase; nested phases
# (the HTTP call inside a batch) are counted in both, so "batch: rest" is the batch minus its parts.
PHASES = r"""
import contextlib, json, sys, threading, time
import django
django.setup()
from django.core.management import call_command
from django.db import connection
import connectors.execution as execution
import connectors.throttle as throttle

lock, local = threading.Lock(), threading.local()
seconds, queries, calls = {}, {}, {}

def timed(name, fn):
    def wrapper(*args, **kwargs):
        started, before = time.perf_counter(), getattr(local, "queries", 0)
        try:
            return fn(*args, **kwargs)
        finally:
            with lock:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
                queries[name] = queries.get(name, 0) + getattr(local, "queries", 0) - before
                calls[name] = calls.get(name, 0) + 1
    return wrapper

for attribute, name in [
    ("executions_enqueue", "enqueue"), ("executions_claim", "claim"), ("outbox_run", "outbox_run (all below)"),
    ("_prepare_many", "prepare: load, payload, route"), ("_run_batch", "batch (all below)"),
    ("_held_by_switch_or_quota", "admission: switches, quotas"), ("_acquire", "throttle: acquire"),
    ("_start_many", "start transaction"), ("_conclude_written", "conclude transaction"),
]:
    setattr(execution, attribute, timed(name, getattr(execution, attribute)))
throttle.Throttle.record = timed("throttle: record", throttle.Throttle.record)
logged = execution.calls_logged

@contextlib.contextmanager
def http(context):
    started = time.perf_counter()
    with logged(context):
        yield
    with lock:
        seconds["HTTP call"] = seconds.get("HTTP call", 0.0) + time.perf_counter() - started
        calls["HTTP call"] = calls.get("HTTP call", 0) + 1

execution.calls_logged = http

def count(execute, sql, params, many, context):
    local.queries = getattr(local, "queries", 0) + 1
    return execute(sql, params, many, context)

started = time.perf_counter()
threads_wrapped = threading.Thread.run
def run_counted(self):
    with connection.execute_wrapper(count):
        threads_wrapped(self)
threading.Thread.run = run_counted
with connection.execute_wrapper(count):
    call_command("execute_actions", *sys.argv[1:])
print("PHASES " + json.dumps({"seconds": seconds, "queries": queries, "calls": calls,
                              "total": time.perf_counter() - started}), flush=True)
"""


class CheckFailed(Exception):
    """A correctness check of the run failed."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def seed(records: int, sandbox_url: str) -> None:
    """The connection, its route, ``records`` leads and one approved CRM write per lead."""
    from approvals.choices import ActionStatus
    from approvals.models import ProposedAction
    from approvals.services import payload_sha256
    from sales.models import Lead

    crm_write_connection(sandbox_url)
    Lead.objects.bulk_create(
        [
            Lead(source="bench", external_id=f"lead-{n:06d}", last_name=f"Lead {n}", country="PT")
            for n in range(records)
        ],
        batch_size=5000,
    )
    digest = payload_sha256(PAYLOAD)
    ProposedAction.objects.bulk_create(
        [
            ProposedAction(
                kind="update_crm_fields",
                domain="sales",
                lead_id=lead_id,
                payload=PAYLOAD,
                rationale="Warm and not yet contacted (bench).",
                confidence=0.9,
                risk_level="low",
                status=ActionStatus.APPROVED,
                approved_payload_sha256=digest,
                idempotency_key=f"bench-outbox-{lead_id}",
                proposed_by="bench",
            )
            for lead_id in Lead.objects.order_by("pk").values_list("pk", flat=True)
        ],
        batch_size=5000,
    )


def sandbox_counts(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/__sandbox/effects", timeout=10) as answer:  # noqa: S310 - 127.0.0.1
        return dict(json.loads(answer.read()))


def executor_command(args: argparse.Namespace, n: int) -> list[str]:
    options = [
        "--workers", str(args.threads), "--batch-size", str(args.batch_size),
        "--idle-seconds", str(args.idle_seconds),
    ]  # fmt: skip
    if args.phases:
        return [sys.executable, "-c", PHASES, *options]
    if args.profile and n == 0:
        return [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(profile_path()),
            "manage.py",
            "execute_actions",
            *options,
        ]
    return [sys.executable, "manage.py", "execute_actions", *options]


def profile_path() -> Path:
    return ROOT / "var" / "bench-outbox-executor.prof"


def executed_by(output: str) -> dict[str, int]:
    """The counts of the command's summary line ("executed 9800, skipped 2 in 12.3s")."""
    line = next((x for x in reversed(output.splitlines()) if x.endswith("s") and " in " in x), "")
    return {status: int(n) for status, n in re.findall(r"([a-z_]+) (\d+)", line.rsplit(" in ", 1)[0])}


def measure(args: argparse.Namespace, env: dict[str, str], sandbox_url: str) -> dict[str, Any]:
    """Both executors at once until both exit; the figures and the per-process summaries."""
    from django.db.models import Count, Max, Min

    from approvals.models import ProposedAction
    from connectors.models import ActionExecution, ExecutionAttempt

    logs = [ROOT / "var" / f"bench-outbox-executor-{n}.log" for n in range(args.processes)]
    started = time.perf_counter()
    processes = []
    for n, log in enumerate(logs):
        with log.open("w") as err:
            processes.append(
                subprocess.Popen(
                    executor_command(args, n),
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )
            )
    outputs = [p.communicate(timeout=args.timeout)[0] for p in processes]
    wall = time.perf_counter() - started
    for process, log in zip(processes, logs, strict=True):
        check(
            process.returncode == 0,
            f"an executor exited with {process.returncode}: {log.read_text()[-3000:]}",
        )

    span = ExecutionAttempt.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
    seconds = (span["last"] - span["first"]).total_seconds()
    window = float(args.window)
    after_first_window = ExecutionAttempt.objects.filter(
        finished_at__gt=span["first"] + _seconds(window)
    ).count()
    counts = sandbox_counts(sandbox_url)
    per_action = ExecutionAttempt.objects.values("action_id").annotate(n=Count("id"))
    return {
        "records": args.records,
        "wall": wall,
        "span": seconds,
        "steady_records": after_first_window,
        "steady_seconds": seconds - window,
        "statuses": dict(ProposedAction.objects.values_list("status").annotate(n=Count("id"))),
        "undone": ActionExecution.objects.filter(done=False).count(),
        "attempts": ExecutionAttempt.objects.count(),
        "attempted_twice": per_action.filter(n__gt=1).count(),
        "outcomes": dict(ExecutionAttempt.objects.values_list("outcome").annotate(n=Count("id"))),
        "per_process": [executed_by(out) for out in outputs],
        "phases": [
            json.loads(line.removeprefix(RESULT_PREFIX))
            for out in outputs
            for line in out.splitlines()
            if line.startswith(RESULT_PREFIX)
        ],
        "responses": counts["responses"],
        "effects": counts["effects"],
    }


def _seconds(value: float):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(seconds=value)


def report(run: dict[str, Any], args: argparse.Namespace) -> bool:
    n = run["records"]
    rate = n / run["span"]
    steady = run["steady_records"] / run["steady_seconds"] if run["steady_seconds"] > 0 else 0.0
    requests = sum(run["responses"].values())
    limited = run["responses"].get("429", 0)
    print(f"machine    {MACHINE}")
    print(f"records    {n:,}; {args.processes} executor processes × {args.threads} thread(s), "
          f"claims of {args.batch_size}; Redis throttle store")  # fmt: skip
    print(f"wall       {run['wall']:.2f} s from starting the processes to both exiting "
          f"({n / run['wall']:,.0f} records/s including start-up)")  # fmt: skip
    print(f"span       {run['span']:.2f} s from the first attempt to the last: {rate:,.0f} records/s")
    if run["steady_seconds"] > 1:
        print(f"steady     after the first {args.window:.0f} s: {run['steady_records']:,} records in "
              f"{run['steady_seconds']:.2f} s = {steady:,.0f} records/s")  # fmt: skip
    else:
        print(f"steady     the run ended within the first {args.window:.0f} s window (no steady rate)")
    print(
        f"requests   {requests} ({limited} answered 429 = {limited / max(requests, 1):.2%}); {run['responses']}"
    )
    print(f"sandbox    {run['effects']}")
    for number, counts in enumerate(run["per_process"]):
        print(f"process {number}  {counts}")
    print(f"attempts   {run['attempts']:,} ({run['outcomes']}); actions attempted more than once: "
          f"{run['attempted_twice']}; statuses {run['statuses']}")  # fmt: skip
    for number, phases in enumerate(run["phases"]):
        print(f"phases of process {number} (threads summed; {phases['total']:.2f} s in the process):")
        for name, value in sorted(phases["seconds"].items(), key=lambda item: -item[1]):
            calls, queries = phases["calls"].get(name, 0), phases["queries"].get(name)
            sql = f", {queries / calls:.1f} SQL statements per call" if queries is not None and calls else ""
            print(
                f"  {name:<34} {value:8.2f} s  {calls:6} calls  {1000 * value / max(calls, 1):8.1f} ms/call{sql}"
            )
    if args.profile and not args.phases and profile_path().exists():
        out = io.StringIO()
        pstats.Stats(str(profile_path()), stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())

    executed = [counts.get("executed", 0) for counts in run["per_process"]]
    check(run["statuses"] == {"executed": n}, f"not every action executed: {run['statuses']}")
    check(run["undone"] == 0, f"{run['undone']} executions left undone")
    check(all(executed), f"a process executed nothing: {executed}")
    check(sum(executed) == n, f"the processes executed {executed}, {sum(executed)} in all, for {n} actions")
    check(run["attempted_twice"] == 0, f"{run['attempted_twice']} actions attempted more than once")
    check(
        run["effects"].get("create contacts", 0) == n and not run["effects"].get("update contacts"),
        f"sandbox effects {run['effects']} for {n} actions: not exactly one contact each",
    )
    met = rate >= TARGET_RECORDS_PER_SECOND and (
        run["steady_seconds"] <= 1 or steady >= TARGET_RECORDS_PER_SECOND
    )
    print(f"target     {TARGET_RECORDS_PER_SECOND:,} records/s: span {rate:,.0f}/s"
          + (f", steady {steady:,.0f}/s" if run["steady_seconds"] > 1 else "")
          + (" — MET" if met else " — MISSED"))  # fmt: skip
    return met


def run(args: argparse.Namespace) -> int:
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,  # the executors' throttle store: shared by both processes
        "DJANGO_SETTINGS_MODULE": "agentops.settings",
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(args.redis_url).flushdb()  # this benchmark's own db: the throttle's window
    (ROOT / "var").mkdir(exist_ok=True)
    sandbox = subprocess.Popen(
        [sys.executable, "manage.py", "run_sandbox", "--only", "hubspot", "--port", "hubspot=0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        url = sandbox.stdout.readline().strip().split(": ", 1)[1]
        started = time.perf_counter()
        seed(args.records, url)
        print(f"setup      {args.records:,} leads and approved writes in {time.perf_counter() - started:.1f} s; "
              f"sandbox {url}", flush=True)  # fmt: skip
        django.db.connection.close()  # idle while the executors run
        figures = measure(args, env, url)
        met = report(figures, args)
    except CheckFailed as exc:
        print(f"CHECK FAILED: {exc}")
        return 1
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    return 0 if met else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=2, help="executor processes (the target: 2)")
    parser.add_argument("--threads", type=int, default=1, help="--workers of each execute_actions")
    parser.add_argument("--batch-size", type=int, default=100, help="--batch-size (records claimed at once)")
    parser.add_argument(
        "--idle-seconds", type=float, default=12.0, help="--idle-seconds: wait out the window"
    )
    parser.add_argument("--window", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="recreated at the start")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis db of its own (flushed)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds the executors may take")
    parser.add_argument("--phases", action="store_true", help="time the phases in each executor")
    parser.add_argument("--profile", action="store_true", help="cProfile the first executor")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("--database-url: the executors claim with SKIP LOCKED on PostgreSQL (postgres://…)")
    if args.inner:
        sys.exit(run(args))
    fresh_database(args.database_url)
    # A process of its own: settings are read once at start-up.
    sys.exit(subprocess.run([sys.executable, __file__, *sys.argv[1:], "--inner"], check=False).returncode)


if __name__ == "__main__":
    main()
