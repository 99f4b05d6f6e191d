"""Re-encrypt stored connection credentials under the first key of AGENTOPS_ENCRYPTION_KEYS."""

from typing import Any

from django.core.management.base import BaseCommand

from connectors.services import connections_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt every connection's credentials with the first configured key (after a key rotation)."

    def handle(self, *args: Any, **options: Any) -> None:
        changed = connections_reencrypt()
        self.stdout.write(f"re-encrypted {changed} connection(s)")
