"""Benchmark: take the first step of 20,000 cadence enrolments at once, on SQLite and PostgreSQL.

Every lead is enrolled in the demo cadence with its first step due now (a Wednesday, 15:00 UTC).
Leads are spread over time zones (Tokyo is at night, so its steps wait for quiet hours to end),
one in five has no recorded consent (its email step is skipped), and one in twenty replied before
the step (the enrolment ends). The rest get a drafted, compliance-scanned email proposed and routed
through the approval policy. Runs with two batch sizes to show the SQL queries per batch do not
grow with the batch, then runs again (nothing left to do).

    .venv/bin/python bench/bench_cadences.py                 # both databases
    .venv/bin/python bench/bench_cadences.py --database sqlite
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from _databases import ROOT, bench_databases, main_per_database

DATABASES = bench_databases("cadences")
ENROLMENTS = 20_000
BATCH_SIZES = (500, 2000)
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
ZONES = ["Europe/London", "Europe/Lisbon", "America/New_York", "Europe/Berlin", "Asia/Tokyo"]


def _populate() -> None:
    from sales.demo_cadence import demo_cadence_ensure
    from sales.models import Enrolment, Lead, LeadEvent

    rng = random.Random(11)
    cadence = demo_cadence_ensure()
    Lead.objects.bulk_create(
        [
            Lead(
                source="bench",
                external_id=f"c-{i}",
                first_name=f"Ada{i}",
                last_name="Bench",
                email=f"lead{i}@example.com",
                company_name=f"Company {i % 500}",
                timezone=rng.choice(ZONES),
                consent_state="granted" if rng.random() < 0.8 else "unknown",
            )
            for i in range(ENROLMENTS)
        ],
        batch_size=5000,
    )
    ids = list(Lead.objects.order_by("id").values_list("id", flat=True))
    Enrolment.objects.bulk_create(
        [
            Enrolment(lead_id=i, cadence=cadence, next_step_at=NOW, enrolled_at=NOW - timedelta(days=1))
            for i in ids
        ],
        batch_size=5000,
    )
    LeadEvent.objects.bulk_create(
        [
            LeadEvent(
                lead_id=i, kind="email_reply", occurred_at=NOW - timedelta(hours=2), external_id=f"r{i}"
            )
            for i in ids
            if rng.random() < 0.05
        ],
        batch_size=5000,
    )


def run(name: str) -> None:
    os.environ["DATABASE_URL"] = DATABASES[name]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    os.environ["SCORING_AUTO_RESCORE"] = "false"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    _populate()
    print(f"[{name}] set up {ENROLMENTS:,} leads and enrolments in {time.perf_counter() - started:.1f} s")

    from sales.cadence_services import cadences_advance
    from sales.models import Enrolment, SequencingSettings

    SequencingSettings.objects.update(batch_size=BATCH_SIZES[0])
    half = ENROLMENTS // 2
    # The first half: small batches; the second: large ones (ordered by id through next_step_at ties).
    later = list(Enrolment.objects.order_by("pk").values_list("pk", flat=True)[half:])
    Enrolment.objects.filter(pk__in=later).update(next_step_at=NOW + timedelta(minutes=1))
    total, seconds = 0, 0.0
    for batch_size, at in zip(BATCH_SIZES, (NOW, NOW + timedelta(minutes=1)), strict=True):
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            summary = cadences_advance(now=at, batch_size=batch_size)
            took = time.perf_counter() - began
        handled = summary.due + sum(summary.exited.values())
        batches = -(-handled // batch_size)
        total += handled
        seconds += took
        print(
            f"[{name}] batch {batch_size:>5}: {handled:,} enrolments in {took:6.2f} s = {handled / took:7,.0f}/s; "
            f"proposed {summary.proposed:,}, skipped (no consent) {summary.skipped:,}, waiting (quiet hours) "
            f"{summary.deferred:,}, exited {summary.exited}; {len(queries)} SQL queries in {batches} batches "
            f"(+1 empty) = {(len(queries)) / (batches + 1):.1f} per batch"
        )
    print(f"[{name}] all: {total:,} enrolments in {seconds:.2f} s = {total / seconds:,.0f} enrolments/s")
    with CaptureQueriesContext(connection) as queries:
        began = time.perf_counter()
        again = cadences_advance(now=NOW + timedelta(minutes=1))
    print(
        f"[{name}] re-run: {again.proposed} proposed, {again.due} due in {time.perf_counter() - began:.2f} s, "
        f"{len(queries)} queries"
    )
    print(f"[{name}] database {connection.vendor}")


def main() -> None:
    main_per_database(__file__, DATABASES, run)


if __name__ == "__main__":
    main()
