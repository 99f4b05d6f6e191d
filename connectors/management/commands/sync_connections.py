"""Run the incremental sync now (the schedule runs it every few minutes): ``sync_connections
[--connection NAME] [--kind lead|account|contact|ticket|email|meeting|call|deal]``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.models import Connection
from connectors.sync import sync_all


class Command(BaseCommand):
    help = "Read what changed in the systems of record since the last sync and apply it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connection", help="Only this connection (its name).")
        parser.add_argument(
            "--kind",
            help="Only this kind of record (lead, account, contact, ticket, email, meeting, call, deal).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options.get("connection")
        if name and not Connection.objects.filter(name=name, is_active=True).exists():
            raise CommandError(f"no active connection named {name!r}")
        summary = sync_all(connection_name=name, kind=options.get("kind"))
        self.stdout.write(" ".join(f"{key}={value}" for key, value in summary.as_dict().items()))
