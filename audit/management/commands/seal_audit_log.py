from typing import Any

from django.core.management.base import BaseCommand

from audit.services import audit_seal_pending


class Command(BaseCommand):
    help = "Seal every decision-log entry still waiting for its seal (what the every-minute task does)."

    def handle(self, *args: Any, **options: Any) -> None:
        sealed = audit_seal_pending()
        self.stdout.write(f"sealed {sealed} decision-log entries")
