import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from support.services import survey_responses_record


class Command(BaseCommand):
    help = (
        "Record CSAT survey answers from a CSV file with the columns source, external_id, score (1–5), "
        "responded_at (ISO time with offset) and optionally comment; one answer per ticket (safe to re-run)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [(number, row) for number, row in enumerate(csv.DictReader(handle), start=2)]
        outcome = survey_responses_record(rows=rows)
        for error in outcome.errors[:20]:
            self.stderr.write(error)
        self.stdout.write(
            f"recorded {outcome.recorded}; rejected {len(outcome.errors)} (of {len(rows)} rows)"
        )
