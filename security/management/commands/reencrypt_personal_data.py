"""Re-encrypt personal data under the first key of AGENTOPS_ENCRYPTION_KEYS (after a key rotation)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from security.personal_data import personal_data_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column (leads, tickets, inbound events, action payloads …) with the "
        "first configured key and refresh the blind indexes; safe to run twice. Once it reports 0 "
        "changed rows everywhere, the old keys can be dropped from AGENTOPS_ENCRYPTION_KEYS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="Rows read and written at a time.")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError(f"--batch-size must be at least 1, got {batch_size}")

        def progress(table: str, seen: int, changed: int) -> None:
            self.stdout.write(f"{table}: {seen} rows read, {changed} re-encrypted")

        changed = personal_data_reencrypt(batch_size=batch_size, progress=progress)
        for table, count in changed.items():
            self.stdout.write(f"{table}: done, {count} row(s) re-encrypted")
        self.stdout.write(f"re-encrypted {sum(changed.values())} row(s) in {len(changed)} table(s)")
