"""Benchmark: the approval queue page with 100,000 pending items and 1,000,000 decision-log rows.

Measures the server time (Django's test client, in process: routing, queries, template) of the
SDR manager's queue page, a filtered queue and the detail page, next to the Django admin change
list of the same model in the same run. Target: queue median ≤ 100 ms and faster than the admin.

    .venv/bin/python bench/bench_queue.py                  # both databases
    .venv/bin/python bench/bench_queue.py --database postgres
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal

from _databases import ROOT, bench_databases, fresh_database

DATABASES = bench_databases("queue")
PENDING = 100_000
LOG_ROWS = 1_000_000
LEADS = 20_000
REPEAT = 25


def _populate() -> None:
    """Leads with accounts, 100,000 pending actions over two teams, 1,000,000 log rows (not timed)."""
    import random

    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.utils import timezone

    from approvals.models import ProposedAction
    from audit.models import DecisionLogEntry
    from sales.models import Account, Lead
    from scoring.models import ModelVersion

    rng = random.Random(7)
    now = timezone.now()
    sdr, support = (
        Group.objects.get_or_create(name="SDR managers")[0],
        Group.objects.get_or_create(name="Support leads")[0],
    )
    version = ModelVersion.objects.create(kind="lead_score", name="bench", version=1)
    accounts = Account.objects.bulk_create(
        [
            Account(
                source="demo",
                external_id=f"acc-{i}",
                name=f"Company {i}",
                account_value=Decimal(rng.randint(0, 500_000)),
            )
            for i in range(2_000)
        ]
    )
    Lead.objects.bulk_create(
        [
            Lead(
                source="demo",
                external_id=f"lead-{i}",
                first_name="Lead",
                last_name=str(i),
                company_name=f"Company {i % 2000}",
                account=accounts[i % len(accounts)],
                deal_value=Decimal(rng.randint(0, 200_000)) if i % 3 else None,
            )
            for i in range(LEADS)
        ],
        batch_size=5_000,
    )
    lead_ids = list(Lead.objects.values_list("id", flat=True))
    kinds = ["enrol_cadence", "assign_owner", "send_email", "create_task", "add_to_nurture"]
    risks = ["low", "medium", "high", "critical"]
    actions = []
    for i in range(PENDING):
        sales = i % 4 != 0
        actions.append(
            ProposedAction(
                kind=rng.choice(kinds) if sales else "post_public_reply",
                domain="sales" if sales else "support",
                lead_id=rng.choice(lead_ids) if sales else None,
                payload={"cadence": "Inbound hot"} if sales else {"body": "Hello"},
                rationale="Hot and uncontacted.",
                confidence=rng.random(),
                risk_level=rng.choice(risks),
                status="pending_approval",
                idempotency_key=f"bench-{i}",
                proposed_by="sdr-agent",
                matched_rule=f"rule-{i % 7}",
                model_version=version if sales else None,
                approver_group=sdr if sales else support,
                sla_due_at=now + timedelta(minutes=rng.randint(-600, 6_000)) if i % 10 else None,
            )
        )
    with transaction.atomic():
        ProposedAction.objects.bulk_create(actions, batch_size=5_000)
    del actions
    print(f"  {ProposedAction.objects.count():,} pending actions", flush=True)

    table = connection.ops.quote_name(DecisionLogEntry._meta.db_table)
    columns = (
        "event_id", "timestamp", "event_type", "actor", "input_context", "model_version", "prediction",
        "action_taken", "approval", "outcome", "environment", "subject_type", "subject_id",
    )  # fmt: skip
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    started = now - timedelta(days=365)
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, LOG_ROWS, 50_000):
            rows = [
                (
                    uuid.uuid4().hex if connection.vendor == "sqlite" else uuid.uuid4(),
                    started + timedelta(seconds=i * 30),
                    "action_decided",
                    "user:bench",
                    "{}",
                    "",
                    "{}",
                    '{"kind": "enrol_cadence", "status": "approved"}',
                    '{"decision": "approve"}',
                    "{}",
                    "demo",
                    "proposed_action",
                    str(i % PENDING + 1),
                )
                for i in range(start, start + 50_000)
            ]
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                adapt = connection.ops.adapt_datetimefield_value
                placeholders = ", ".join(["%s"] * len(columns))
                cursor.executemany(
                    f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})",  # noqa: S608 - names from the model
                    [(r[0], adapt(r[1]), *r[2:]) for r in rows],
                )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"  {DecisionLogEntry.objects.count():,} decision-log rows", flush=True)


def _time(client, url: str) -> tuple[float, float, int, int]:
    """Median and 95th percentile server time (ms), SQL queries and status of GET ``url``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        client.get(url)
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], len(queries), response.status_code


def _report(name: str, label: str, median: float, p95: float, queries: int, status: int) -> float:
    print(
        f"[{name}] {label:40s} median {median:7.1f} ms  p95 {p95:7.1f} ms  {queries:2d} queries  HTTP {status}"
    )
    return median


def run(name: str, *, keep: bool) -> None:
    os.environ["DATABASE_URL"] = DATABASES[name]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings

    from approvals.models import ProposedAction

    call_command("migrate", verbosity=0)
    if not (keep and ProposedAction.objects.exists()):
        print(f"[{name}] populating (not timed)", flush=True)
        _populate()

    users = get_user_model()
    manager, _ = users.objects.get_or_create(username="bench.manager")
    manager.groups.add(Group.objects.get(name="SDR managers"))
    admin, _ = users.objects.get_or_create(
        username="bench.admin", defaults={"is_staff": True, "is_superuser": True}
    )
    manager_client, admin_client = Client(), Client()
    manager_client.force_login(manager)
    admin_client.force_login(admin)
    first_pending = (
        ProposedAction.objects.filter(domain="sales").order_by("id").values_list("id", flat=True)[0]
    )

    pages = [
        ("queue, first page (50 items)", manager_client, "/approvals/"),
        ("queue, risk=low & overdue", manager_client, "/approvals/?risk=low&sla=overdue"),
        ("queue, page 100", manager_client, "/approvals/?page=100"),
        ("item detail", manager_client, f"/approvals/{first_pending}/"),
        ("admin change list (100 items)", admin_client, "/admin/approvals/proposedaction/"),
        (
            "admin change list, status filter",
            admin_client,
            "/admin/approvals/proposedaction/?status__exact=pending_approval",
        ),
    ]
    results = {}
    for label, client, url in pages:
        results[label] = _report(name, label, *_time(client, url))
    # The counts are cached while no action changes; with a decision between every page load
    # (a busy team) they are counted afresh each time:
    with override_settings(APPROVAL_QUEUE_FACETS_SECONDS=0):
        _report(name, "queue, counts recomputed every load", *_time(manager_client, "/approvals/"))
    queue = results["queue, first page (50 items)"]
    admin_median = results["admin change list (100 items)"]
    verdict = "MET" if queue <= 100 and queue < admin_median else "MISSED"
    print(
        f"[{name}] queue {queue:.1f} ms vs admin {admin_median:.1f} ms; target ≤ 100 ms and faster -> {verdict}"
    )
    print(f"[{name}] database {connection.vendor}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=[*DATABASES, "all"], default="all")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="reuse the populated database (development)")
    args = parser.parse_args()
    if args.inner:
        run(args.database, keep=args.keep)
        return
    for name in DATABASES if args.database == "all" else [args.database]:
        if not args.keep:
            fresh_database(DATABASES[name])
        # A process per database: settings are read once at start-up.
        command = [
            sys.executable,
            __file__,
            "--database",
            name,
            "--inner",
            *(["--keep"] if args.keep else []),
        ]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
