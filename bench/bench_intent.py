"""Benchmark: train the intent model on the 80% training split of BANKING77 and evaluate it on the
held-out 20%, through the same commands an operator runs; checks issue 7's two targets.

Prints the training time, accuracy, macro-F1, and coverage and precision at the default threshold
(from ``manage.py evaluate_intent_model``), and the most any single threshold could have answered at
≥ 97% precision on the hold-out (an oracle, for context only: it is chosen on the hold-out).

    .venv/bin/python bench/bench_intent.py               # the shipped split (seed 0)
    .venv/bin/python bench/bench_intent.py --seeds 0,1,2 # how much the figures move with the split
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from io import StringIO

from _databases import ROOT, bench_databases, fresh_database

TARGET_ACCURACY = 0.90
TARGET_COVERAGE = 0.80
TARGET_PRECISION = 0.97


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0", help="Comma-separated split seeds.")
    args = parser.parse_args()
    url = bench_databases("intent")["sqlite"]
    fresh_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import numpy as np
    from django.core.management import call_command

    from scoring.intent import threshold_for_precision

    call_command("migrate", verbosity=0)
    for seed in (int(s) for s in args.seeds.split(",")):
        out = StringIO()
        started = time.perf_counter()
        call_command("train_intent_model", "--seed", str(seed), "--no-progress", stdout=out)
        wall = time.perf_counter() - started
        from scoring.models import ModelVersion

        version = ModelVersion.objects.filter(kind="intent").order_by("-version").first()
        assert version is not None
        evaluation = StringIO()
        call_command("evaluate_intent_model", "--model-version", str(version.version), stdout=evaluation)
        metrics = version.metrics
        holdout = version.reference["holdout"]
        correct = np.array([p == y for p, y in zip(holdout["predicted"], holdout["labels"], strict=True)])
        confidence = np.array(holdout["confidence"])
        oracle = threshold_for_precision(confidence, correct, TARGET_PRECISION)
        print(f"== split seed {seed}: {metrics['sizes']['train']} training, {metrics['n']} held-out examples")
        print(
            f"training (encoder vectors, {version.hyperparameters['folds']} fold models, their average): "
            f"{metrics['training_seconds']:.1f} s; command wall time incl. evaluation and registration {wall:.1f} s"
        )
        print(evaluation.getvalue().rstrip())
        precision = metrics["precision"] or 0.0
        print(
            f"targets: accuracy ≥ {TARGET_ACCURACY}: {'met' if metrics['accuracy'] >= TARGET_ACCURACY else 'NOT met'}; "
            f"coverage ≥ {TARGET_COVERAGE:.0%} with precision ≥ {TARGET_PRECISION:.0%}: "
            f"{'met' if metrics['coverage'] >= TARGET_COVERAGE and precision >= TARGET_PRECISION else 'NOT met'}"
        )
        print(
            f"oracle (chosen on the hold-out, context only): threshold {oracle:.3f} answers "
            f"{(confidence >= oracle).mean():.1%} at ≥ {TARGET_PRECISION:.0%} precision"
        )
        print(f"artifact {len(bytes(version.artifact)) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
