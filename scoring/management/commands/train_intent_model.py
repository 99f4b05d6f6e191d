import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from scoring.intent import DataError
from scoring.intent_services import BANKING77, intent_model_train
from scoring.management.registry_output import promote_to_champion, write_gate_report

STEPS = 4
ACTOR = "command:train_intent_model"


class Command(BaseCommand):
    help = "Train the support intent model on a labelled text,category file and register it as a candidate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=BANKING77, help="Labelled CSV (text,category).")
        parser.add_argument(
            "--per-intent",
            type=int,
            default=None,
            help="Train on at most N examples per intent (quick trials).",
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the 80/20 split and the folds.")
        parser.add_argument("--promote", action="store_true", help="Promote to champion if the gate passes.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        with tqdm(total=STEPS, unit="step", file=sys.stderr, disable=options["no_progress"]) as bar:

            def progress(message: str) -> None:
                bar.set_description(message)
                bar.update(1)

            try:
                version = intent_model_train(
                    actor=ACTOR, data=options["data"], per_intent=options["per_intent"], seed=options["seed"],
                    progress=progress,
                )  # fmt: skip
            except DataError as exc:
                raise CommandError(str(exc)) from exc
        metrics = version.metrics
        self.stdout.write(
            f"registered {version.label} (candidate), trained on {version.training_rows} examples "
            f"in {metrics['training_seconds']:.1f} s"
        )
        self.stdout.write(
            f"hold-out ({metrics['n']} examples): accuracy {metrics['accuracy']:.4f}, "
            f"macro-F1 {metrics['macro_f1']:.4f}; at the default threshold "
            f"{version.preprocessing['default_threshold']:.3f}: answers {metrics['coverage']:.1%} "
            f"with precision {metrics['precision'] or 0:.4f}"
        )
        write_gate_report(self.stdout, version)
        if options["promote"]:
            promote_to_champion(self.stdout, version, actor=ACTOR)
