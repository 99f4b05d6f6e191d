"""Benchmark: evaluate the demo playbook over 100,000 scored leads and store, log and route the
proposals it makes, on SQLite and PostgreSQL.

Scores are written straight into the score history (no model is trained): one current score per
lead with a spread of values, and for one lead in ten a higher score three days earlier, so the
score-drop rule has work. The leads are run in two halves with different batch sizes, to show the
SQL queries per batch do not grow with the batch; then everything is run again (nothing new).

    .venv/bin/python bench/bench_playbooks.py                 # both databases
    .venv/bin/python bench/bench_playbooks.py --database sqlite
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import timedelta

from _databases import ROOT, bench_databases, main_per_database

DATABASES = bench_databases("playbooks")
LEADS = 100_000
BATCH_SIZES = (1000, 5000)


def _populate() -> None:
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from approvals.models import ApprovalPolicy
    from sales.demo_playbook import demo_playbook_ensure
    from sales.models import Lead
    from scoring.models import ModelVersion
    from scoring.persist import score_row, write_lead_scores

    rng = random.Random(7)
    Lead.objects.bulk_create(
        [
            Lead(
                source="bench",
                external_id=f"b-{i}",
                last_name=f"Lead {i}",
                status="new" if rng.random() < 0.4 else "contacted",
                has_open_opportunity=rng.random() < 0.25,
                attributes={"country": rng.choice(["PT", "ES", "DE", "US"])},
            )
            for i in range(LEADS)
        ],
        batch_size=5000,
    )
    version = ModelVersion.objects.create(kind="lead_score", name="bench", version=1, status="champion")
    now = timezone.now()
    rows = []
    for lead_id in Lead.objects.order_by("id").values_list("id", flat=True):
        score = min(100, max(0, int(rng.gauss(55, 22))))
        if rng.random() < 0.1:
            peak = min(100, score + rng.randint(10, 50))
            rows.append(_row(score_row, lead_id, version.pk, peak, now - timedelta(days=3)))
        rows.append(_row(score_row, lead_id, version.pk, score, now - timedelta(hours=1)))
    write_lead_scores(rows)
    sdr = Group.objects.get_or_create(name="SDR managers")[0]
    ApprovalPolicy.objects.create(
        name="Sales writes go to SDR managers",
        outcome="one_approval",
        domains=["sales"],
        approver_group=sdr,
        sla_minutes=240,
        priority=50,
    )
    ApprovalPolicy.objects.create(
        name="Low-confidence proposals need a human", outcome="one_approval", confidence_below=0.6
    )
    demo_playbook_ensure()


def _row(score_row, lead_id, version_id, score, at):  # type: ignore[no-untyped-def]
    tier = "hot" if score >= 80 else "warm" if score >= 50 else "cold"
    reasons = '[{"feature": "pricing_visits", "value": 3, "text": "Pricing page visits 3: +9 points"}]'
    return score_row(
        lead_id=lead_id,
        model_version_id=version_id,
        role="champion",
        probability=score / 100,
        score=score,
        tier=tier,
        reasons_json=reasons,
        features_hash="bench",
        scored_at=at,
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
    print(f"[{name}] set up {LEADS:,} leads and their scores in {time.perf_counter() - started:.1f} s")

    from sales.models import Lead
    from sales.services import playbooks_run

    ids = list(Lead.objects.order_by("id").values_list("id", flat=True))
    halves = [ids[: len(ids) // 2], ids[len(ids) // 2 :]]
    total_leads, total_seconds, total_created = 0, 0.0, 0
    for half, batch_size in zip(halves, BATCH_SIZES, strict=True):
        per_batch: list[int] = []
        with CaptureQueriesContext(connection) as queries:
            mark = [0]

            def progress(_: int, queries=queries, mark=mark, per_batch=per_batch) -> None:  # type: ignore[no-untyped-def]
                per_batch.append(len(queries) - mark[0])
                mark[0] = len(queries)

            summary = playbooks_run(actor="bench", lead_ids=half, batch_size=batch_size, progress=progress)
        total_leads += summary.leads
        total_seconds += summary.seconds
        total_created += summary.created
        print(
            f"[{name}] batch {batch_size:>5}: {summary.leads:,} leads in {summary.seconds:6.2f} s "
            f"= {summary.leads / summary.seconds:8,.0f} leads/s; {summary.created:,} proposals created, "
            f"routed {summary.routed}; SQL queries per batch {min(per_batch)}–{max(per_batch)} "
            f"({len(per_batch)} batches, {len(queries)} queries in all)"
        )
    print(
        f"[{name}] all {total_leads:,} leads: {total_seconds:6.2f} s = {total_leads / total_seconds:,.0f} leads/s, "
        f"{total_created:,} proposals created"
    )
    with CaptureQueriesContext(connection) as queries:
        again = playbooks_run(actor="bench", batch_size=2000)
    print(
        f"[{name}] re-run over all: {again.created} created ({again.already_proposed:,} already proposed) "
        f"in {again.seconds:.2f} s = {again.leads / again.seconds:,.0f} leads/s, {len(queries)} queries"
    )
    print(f"[{name}] database {connection.vendor}")


def main() -> None:
    main_per_database(__file__, DATABASES, run)


if __name__ == "__main__":
    main()
