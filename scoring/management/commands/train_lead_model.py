import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from scoring.management.registry_output import promote_to_champion, write_gate_report
from scoring.models import FeatureSet
from scoring.training import TrainingError, train_lead_model

STEPS = 6


class Command(BaseCommand):
    help = "Train a lead model on leads with known outcomes and register it as a candidate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--feature-set", default="bank-marketing", help="Name of the FeatureSet to train."
        )
        parser.add_argument(
            "--random-split", action="store_true", help="Random instead of time-ordered hold-out."
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--promote", action="store_true", help="Promote to champion if the gate passes.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            feature_set = FeatureSet.objects.get(name=options["feature_set"])
        except FeatureSet.DoesNotExist:
            names = ", ".join(FeatureSet.objects.values_list("name", flat=True))
            raise CommandError(
                f"feature-set: no feature set named '{options['feature_set']}' (have: {names})"
            ) from None
        with tqdm(total=STEPS, unit="step", file=sys.stderr, disable=options["no_progress"]) as bar:

            def progress(message: str) -> None:
                bar.set_description(message)
                bar.update(1)

            try:
                version = train_lead_model(
                    feature_set=feature_set, actor="command:train_lead_model",
                    random_split=options["random_split"], seed=options["seed"], progress=progress,
                )  # fmt: skip
            except TrainingError as exc:
                raise CommandError(str(exc)) from exc
        validation = version.metrics["validation"]
        self.stdout.write(f"registered {version.label} (candidate), trained on {version.training_rows} leads")
        self.stdout.write(
            f"hold-out ({version.metrics['split']}, {validation['n']} leads): ROC AUC {validation['roc_auc']:.4f}, "
            f"PR AUC {validation['pr_auc']:.4f}, log loss {validation['log_loss']:.4f}, Brier {validation['brier']:.4f}"
        )
        baseline = version.metrics.get("baseline_logistic_auc")
        if baseline is not None:
            self.stdout.write(f"logistic-regression baseline on the same split: ROC AUC {baseline:.4f}")
        write_gate_report(self.stdout, version)
        if options["promote"]:
            promote_to_champion(self.stdout, version, actor="command:train_lead_model")
