from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring.intent import DataError
from scoring.intent_services import intent_model_evaluate, intent_version_for_evaluation


class Command(BaseCommand):
    help = (
        "Evaluate the intent model (the champion, else the newest version) on a labelled text,category "
        "file, or on its own held-out 20%: accuracy, macro-F1, and coverage and precision at the "
        "default threshold."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=None, help="Labelled CSV (text,category).")
        parser.add_argument(
            "--model-version",
            type=int,
            default=None,
            help="Version number (default: the champion, else the newest).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            version = intent_version_for_evaluation(options["model_version"])
            result = intent_model_evaluate(version=version, data=options["data"])
        except (LookupError, DataError) as exc:
            raise CommandError(str(exc)) from exc
        precision = result["precision"]
        self.stdout.write(f"{result['version']} on {result['source']}: {result['n']} examples")
        self.stdout.write(f"accuracy   {result['accuracy']:.4f}")
        self.stdout.write(f"macro-F1   {result['macro_f1']:.4f}")
        self.stdout.write(
            f"at the default threshold {result['default_threshold']:.3f}: coverage {result['coverage']:.4f} "
            f"(answered automatically), precision {'n/a' if precision is None else f'{precision:.4f}'} "
            "(among those answered)"
        )
