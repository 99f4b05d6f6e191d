from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand

from security.role_groups import role_groups_sync


class Command(BaseCommand):
    help = (
        "Create the role groups (SDR managers, Support leads, Ops admins, Auditors, Integration accounts) "
        "and set their permissions from security.roles (idempotent; run after migrations add models)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for name, count in role_groups_sync(apps=apps).items():
            self.stdout.write(f"{name}: {count} permissions")
