import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from core.spreadsheet import safe_row
from sales.models import Lead
from scoring.selectors import acting_scores

CHUNK = 5000


class Command(BaseCommand):
    help = "Write every scored lead's acting score, tier, model version and top reasons to a CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--source", help="Only leads of this source.")

    def handle(self, *args: Any, **options: Any) -> None:
        leads = Lead.objects.order_by("id")
        if options["source"]:
            leads = leads.filter(source=options["source"])
        keys = list(leads.values_list("id", "source", "external_id"))
        written = 0
        with options["file"].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["external_id", "source", "probability", "score", "tier", "model_version", "top_reasons"]
            )
            for start in range(0, len(keys), CHUNK):
                chunk = keys[start : start + CHUNK]
                scores = acting_scores([pk for pk, _, _ in chunk])
                for pk, source, external_id in chunk:
                    score = scores.get(pk)
                    if score is None:
                        continue
                    # The external id and the reasons come from outside (an agent, a CRM): never a formula.
                    writer.writerow(
                        safe_row(
                            [
                                external_id,
                                source,
                                f"{score.probability:.6f}",
                                score.score,
                                score.tier,
                                score.model_version.label,
                                " | ".join(r["text"] for r in score.reasons),
                            ]
                        )
                    )
                    written += 1
        self.stdout.write(f"wrote {written} scored leads to {options['file']}")
