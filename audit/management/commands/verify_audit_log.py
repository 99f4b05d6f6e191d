from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.management.commands._dates import day_start
from audit.selectors import MAX_SEAL_LAG, audit_log_verify


class Command(BaseCommand):
    help = (
        "Recompute the decision log's hash chain and report the first broken link, and entries left "
        "unsealed too long. Exits non-zero when either is found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from", dest="date_from", help="First day (YYYY-MM-DD, UTC) of entries to check."
        )
        parser.add_argument(
            "--to", dest="date_to", help="Last day (YYYY-MM-DD, UTC, included) of entries to check."
        )
        parser.add_argument(
            "--max-seal-lag",
            type=int,
            default=int(MAX_SEAL_LAG.total_seconds()),
            help="Seconds an entry may wait for its seal before it counts as a failure (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        date_from, date_to = options["date_from"], options["date_to"]
        report = audit_log_verify(
            date_from=day_start(date_from, option="--from") if date_from else None,
            date_to=day_start(date_to, option="--to", inclusive_end=True) if date_to else None,
            max_seal_lag=timedelta(seconds=options["max_seal_lag"]),
        )
        result = report.chain
        self.stdout.write(f"checked {result.checked} seals")
        if result.head_sequence is not None:
            self.stdout.write(f"last good seal: {result.head_sequence} chain hash {result.head_chain_hash}")
        if report.unsealed_recent:
            self.stdout.write(f"{report.unsealed_recent} recent entries are waiting for their seal")
        problems = []
        if result.broken is not None:
            problems.append(f"first broken link: {result.broken}")
        if report.unsealed_overdue:
            problems.append(
                f"{report.unsealed_overdue} entries unsealed for more than {options['max_seal_lag']} s "
                f"(oldest entry #{report.oldest_overdue_id}); is the sealer (django-q cluster) running?"
            )
        if problems:
            raise CommandError("\n".join(problems))
        self.stdout.write(self.style.SUCCESS("decision log intact"))
