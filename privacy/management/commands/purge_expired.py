from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.choices import DataKind
from privacy.retention import retention_purge


class Command(BaseCommand):
    help = (
        "Delete or anonymise what is past its retention period (the admin's retention policies), "
        "in batches, and print the count per kind. Safe to run twice; --dry-run only counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be purged; write nothing."
        )
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction (default 500).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size: must be at least 1")
        counts = retention_purge(dry_run=options["dry_run"], batch_size=options["batch_size"])
        verb = "would purge" if options["dry_run"] else "purged"
        for kind, count in counts.items():
            self.stdout.write(f"{DataKind(kind).label}: {verb} {count}")
        if not counts:
            self.stdout.write("no active retention policy")
