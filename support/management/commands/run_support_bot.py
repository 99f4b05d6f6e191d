from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from support.services import support_bot_run


class Command(BaseCommand):
    help = "Run the support bot over new tickets it has not handled yet (safe to run twice)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="At most this many tickets.")

    def handle(self, *args: Any, **options: Any) -> None:
        summary = support_bot_run(limit=options["limit"])
        if summary.model_version is None:
            self.stdout.write(
                "No champion intent model: every new ticket is handed off to a person "
                "(train and promote one with manage.py train_intent_model --promote)."
            )
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items())) or "nothing to do"
        self.stdout.write(
            f"support bot ({summary.model_version or 'no model'}): {summary.tickets} tickets; {outcomes}"
        )
