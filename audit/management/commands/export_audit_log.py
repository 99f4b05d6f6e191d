import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.management.commands._dates import day_start
from audit.selectors import decision_log_export_rows


class Command(BaseCommand):
    help = "Write the decision-log entries of a date range as JSON Lines, one entry with its seal per line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="date_from", required=True, help="First day (YYYY-MM-DD, UTC).")
        parser.add_argument(
            "--to", dest="date_to", required=True, help="Last day (YYYY-MM-DD, UTC, included)."
        )
        parser.add_argument("file", type=Path, help="Where to write the .jsonl file (replaced if it exists).")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = decision_log_export_rows(
            date_from=day_start(options["date_from"], option="--from"),
            date_to=day_start(options["date_to"], option="--to", inclusive_end=True),
        )
        written = 0
        with options["file"].open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
        self.stdout.write(f"wrote {written} decision-log entries to {options['file']}")
