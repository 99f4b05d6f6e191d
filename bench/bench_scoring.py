"""Benchmark: score, explain (top 5 reasons) and persist 100,000 leads, on SQLite and PostgreSQL.

Prints leads/second next to the bare ``booster.predict(..., pred_contribs=True)`` time on the same
matrix and the time of one bulk write of the results. Target: end to end ≤ 3 × bare XGBoost time
+ one bulk write, peak memory < 2 GB.

    .venv/bin/python bench/bench_scoring.py                 # both databases
    .venv/bin/python bench/bench_scoring.py --database sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from _databases import ROOT, bench_databases, fresh_database

DATABASES = bench_databases("scoring")
LEADS = 100_000


def run(name: str, hyperparameters: dict | None) -> None:
    os.environ["DATABASE_URL"] = DATABASES[name]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    os.environ["SCORING_AUTO_RESCORE"] = "false"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)

    from sales.importers.bank_marketing import parse_bank_marketing
    from sales.models import Lead
    from scoring.features import build_matrix, parse_spec
    from scoring.models import FeatureSet, LeadScore
    from scoring.persist import score_row, write_lead_scores
    from scoring.predictor import predictor_for
    from scoring.runner import leads_score
    from scoring.selectors import lead_rows
    from scoring.services import model_version_promote
    from scoring.training import train_lead_model

    # Setup (not timed): the real file, then copies of it without outcomes up to 100,000 leads.
    rows = [
        row
        for _, row in parse_bank_marketing(ROOT / "fixtures" / "bank-marketing" / "bank-additional-train.csv")
    ]
    leads = []
    for i in range(LEADS):
        row = rows[i % len(rows)]
        copy = i >= len(rows)
        leads.append(
            Lead(
                source="bank-marketing",
                external_id=f"bench-{i:06d}",
                country="PT",
                timezone="Europe/Lisbon",
                attributes=row["attributes"],
                outcome="unknown" if copy else row["outcome"],
                outcome_at=None if copy else row["outcome_at"],
            )
        )
    Lead.objects.bulk_create(leads, batch_size=2000)
    del leads
    version = train_lead_model(
        feature_set=FeatureSet.objects.get(name="bank-marketing"),
        actor="bench",
        hyperparameters=hyperparameters,
    )
    model_version_promote(version_id=version.pk, to="champion", actor="bench", reason="benchmark")
    print(
        f"[{name}] {Lead.objects.count()} leads; model {version.label}, {version.metrics['best_iteration'] + 1} trees "
        f"of depth {version.hyperparameters['max_depth']}; hold-out AUC {version.metrics['validation']['roc_auc']:.4f}"
    )

    # The bare XGBoost reference on the same matrix.
    predictor = predictor_for(version.feature_spec, version.preprocessing, bytes(version.artifact))
    features = parse_spec(version.feature_spec)
    matrix = build_matrix(
        features, lead_rows(Lead.objects.order_by("id"), features, as_of=None).records, predictor.vocabulary
    )
    dmatrix = predictor.dmatrix(matrix)
    started = time.perf_counter()
    predictor.booster.predict(dmatrix, pred_contribs=True)
    bare = time.perf_counter() - started
    started = time.perf_counter()
    predictor.booster.predict(dmatrix, output_margin=True)
    bare_predict = time.perf_counter() - started
    del matrix, dmatrix
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # End to end: load features from the database, score, explain, persist.
    summary = leads_score(actor="bench")
    end_to_end = summary.seconds
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # One bulk write of the same results, with the same writer: the reference for persistence.
    written = [
        score_row(
            lead_id=s.lead_id,
            model_version_id=s.model_version_id,
            role=s.role,
            probability=s.probability,
            score=s.score,
            tier=s.tier,
            reasons_json=json.dumps(s.reasons),
            features_hash=s.features_hash,
            scored_at=s.scored_at,
        )
        for s in LeadScore.objects.all()
    ]
    LeadScore.objects.all().delete()
    started = time.perf_counter()
    write_lead_scores(written)
    bulk_write = time.perf_counter() - started
    del written

    # A re-run where nothing changed: explanations are reused, nothing is written.
    rerun = leads_score(actor="bench")

    target = 3 * bare + bulk_write
    print(f"[{name}] bare predict (margin)           {bare_predict:8.2f} s")
    print(f"[{name}] bare predict(pred_contribs)     {bare:8.2f} s")
    print(f"[{name}] one bulk write of the results   {bulk_write:8.2f} s")
    print(
        f"[{name}] end to end (score+explain+save) {end_to_end:8.2f} s  = {summary.leads / end_to_end:,.0f} leads/s"
    )
    print(
        f"[{name}] target 3 × bare + write         {target:8.2f} s  -> {'MET' if end_to_end <= target else 'MISSED'}"
    )
    print(
        f"[{name}] re-run, all unchanged           {rerun.seconds:8.2f} s  = {rerun.leads / rerun.seconds:,.0f} leads/s"
    )
    print(
        f"[{name}] peak RSS {peak:,.0f} MB (before end to end: {rss_before:,.0f} MB) -> "
        f"{'MET' if peak < 2048 else 'MISSED'} (< 2 GB)"
    )
    print(f"[{name}] database {connection.vendor}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=[*DATABASES, "all"], default="all")
    parser.add_argument(
        "--hyperparameters",
        default="",
        help='JSON overrides, e.g. \'{"max_depth": 6, "num_boost_round": 100, "early_stopping_rounds": 1000}\'',
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        run(args.database, json.loads(args.hyperparameters) if args.hyperparameters else None)
        return
    for name in DATABASES if args.database == "all" else [args.database]:
        fresh_database(DATABASES[name])
        # A process per database: settings are read once at start-up.
        command = [
            sys.executable,
            __file__,
            "--database",
            name,
            "--inner",
            "--hyperparameters",
            args.hyperparameters,
        ]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
