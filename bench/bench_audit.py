"""Benchmark: decisions/s written to the decision log, sealed in the background vs chained per request.

Each worker is a process that appends decision-log entries, one transaction per decision (as an
approval does), for a fixed time:

- background: ``decision_log_append`` only; one more process runs ``audit_seal_pending`` every
  half second, as the django-q task does, and records the worst seal lag it saw;
- per-request chain: the same append, then, in the same transaction, the chain head is locked
  (advisory lock), the entry is hashed and its seal inserted, so every decision queues on one lock
  until its transaction commits.

Then the sealer alone seals a backlog of 20,000 entries. PostgreSQL only (SQLite has one writer
whatever the design).

    .venv/bin/python bench/bench_audit.py
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time

from _databases import ROOT, bench_databases, fresh_database

DATABASE_URL = bench_databases("audit")["postgres"]
SECONDS = 5.0
WORKERS = [1, 4, 8]
BACKLOG = 20_000


def _setup() -> None:
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ["AUDIT_SEAL_ON_COMMIT"] = "false"  # the sealer process below stands in for the queue
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _append(worker: int, i: int) -> object:
    from audit.services import decision_log_append

    return decision_log_append(
        event_type="action.decided",
        actor=f"manager-{worker}",
        subject_type="proposed_action",
        subject_id=i,
        input_context={"email": f"lead{i}@example.com", "score": 91},
        model_version="lead-score@3",
        prediction={"score": 0.91, "confidence": 0.82},
        action_taken={"kind": "enroll_in_cadence", "target_system": "hubspot"},
        approval={"approver": f"manager-{worker}", "decision": "approve"},
    )


def _append_chained(worker: int, i: int) -> None:
    """The alternative: chain inside the decision's own transaction."""
    from django.db import connection, transaction
    from django.utils import timezone

    from audit import chain
    from audit.models import AuditSeal, DecisionLogEntry
    from audit.services import SEAL_LOCK_KEY

    with transaction.atomic():
        entry = _append(worker, i)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
        head = AuditSeal.objects.order_by("-sequence").values_list("sequence", "chain_hash").first()
        sequence, previous = head if head is not None else (0, chain.GENESIS)
        fields = DecisionLogEntry.objects.filter(pk=entry.pk).values(*chain.HASHED_FIELDS).get()  # type: ignore[attr-defined]
        digest = chain.entry_hash(fields)
        AuditSeal.objects.create(
            entry=entry,
            sequence=sequence + 1,
            entry_hash=digest,
            chain_hash=chain.chain_hash(previous=previous, entry=digest),
            sealed_at=timezone.now(),
        )


def _worker(mode: str, worker: int, start: float, deadline: float, results: multiprocessing.Queue) -> None:
    _setup()
    from django.db import transaction

    time.sleep(max(0.0, start - time.monotonic()))

    count = 0
    while time.monotonic() < deadline:
        if mode == "background":
            with transaction.atomic():
                _append(worker, count)
        else:
            _append_chained(worker, count)
        count += 1
    results.put(count)


def _sealer(deadline: float, results: multiprocessing.Queue) -> None:
    _setup()
    from audit.selectors import audit_seal_lag
    from audit.services import audit_seal_pending

    worst = 0.0
    while time.monotonic() < deadline + 1.0:
        worst = max(worst, audit_seal_lag().total_seconds())
        audit_seal_pending()
        time.sleep(0.5)
    audit_seal_pending()
    results.put(worst)


def _run(mode: str, workers: int) -> tuple[float, float | None]:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()
    lag: multiprocessing.Queue = context.Queue()
    start = time.monotonic() + 4.0  # spawned processes import Django first, then all start together
    deadline = start + SECONDS
    processes = [
        context.Process(target=_worker, args=(mode, w, start, deadline, results)) for w in range(workers)
    ]
    if mode == "background":
        processes.append(context.Process(target=_sealer, args=(deadline, lag)))
    for p in processes:
        p.start()
    total = sum(results.get() for _ in range(workers))
    worst = lag.get() if mode == "background" else None
    for p in processes:
        p.join()
    return total / SECONDS, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    fresh_database(DATABASE_URL)
    _setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print("| workers | background sealing (decisions/s) | worst seal lag | per-request chain (decisions/s) |")
    print("|---|---|---|---|")
    for workers in WORKERS:
        background, worst = _run("background", workers)
        chained, _ = _run("chained", workers)
        print(f"| {workers} | {background:,.0f} | {worst:.1f} s | {chained:,.0f} |", flush=True)
    _seal_backlog()
    from audit.selectors import audit_log_verify

    started = time.perf_counter()
    report = audit_log_verify()
    print(
        f"verify_audit_log: {report.chain.checked:,} seals in {time.perf_counter() - started:.2f} s, ok={report.ok}"
    )


def _seal_backlog() -> None:
    from audit.models import DecisionLogEntry
    from audit.services import audit_seal_pending

    DecisionLogEntry.objects.bulk_create(
        (
            DecisionLogEntry(
                event_type="action.proposed", actor="playbook", subject_id=str(i), input_context={"i": i}
            )
            for i in range(BACKLOG)
        ),
        batch_size=2000,
    )
    started = time.perf_counter()
    sealed = audit_seal_pending()
    elapsed = time.perf_counter() - started
    print(f"sealer: {sealed:,} pending entries sealed in {elapsed:.2f} s ({sealed / elapsed:,.0f} entries/s)")


if __name__ == "__main__":
    main()
