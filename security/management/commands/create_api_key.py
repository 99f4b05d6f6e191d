from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from security.choices import Scope
from security.services import ApiKeyError, apikey_create, apikey_rotate


class Command(BaseCommand):
    help = (
        "Issue an API key acting as an existing user, or rotate one (--rotate PREFIX). "
        "Prints the plain key (line 1) and its callback signing secret (line 2) once; only the key's "
        "hash is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="Username the key acts as (an integration account).")
        parser.add_argument("--name", help="Which integration uses it.")
        parser.add_argument(
            "--scope", action="append", default=[], choices=Scope.values, help="Repeat per scope."
        )
        parser.add_argument("--days", type=int, help="Days until it expires (default API_KEY_DEFAULT_DAYS).")
        parser.add_argument("--rotate", metavar="PREFIX", help="Rotate the key with this prefix instead.")
        parser.add_argument(
            "--overlap-hours", type=float, default=24.0, help="How long a rotated key still works."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["rotate"]:
                issued = self._rotate(options)
            else:
                issued = self._create(options)
        except ApiKeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"Issued {issued.key} with scopes {', '.join(issued.key.scopes)}, expires {issued.key.expires_at:%Y-%m-%d %H:%M} UTC."
        )
        self.stderr.write("Line 1: the API key. Line 2: its secret for verifying decision callbacks.")
        self.stdout.write(issued.plain)
        self.stdout.write(issued.callback_secret)

    def _create(self, options: dict[str, Any]) -> Any:
        if not options["user"] or not options["name"] or not options["scope"]:
            raise CommandError("--user, --name and at least one --scope are required.")
        try:
            user = get_user_model().objects.get(username=options["user"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {options['user']!r}.") from None
        expires_at = timezone.now() + timedelta(days=options["days"]) if options["days"] else None
        return apikey_create(
            user=user,
            name=options["name"],
            scopes=options["scope"],
            expires_at=expires_at,
            actor="command:create_api_key",
        )

    def _rotate(self, options: dict[str, Any]) -> Any:
        from security.models import ApiKey

        key = ApiKey.objects.filter(prefix=options["rotate"].removeprefix("ak_").split("_")[0]).first()
        if key is None:
            raise CommandError(f"No key with prefix {options['rotate']!r}.")
        return apikey_rotate(
            key_id=key.pk, overlap=timedelta(hours=options["overlap_hours"]), actor="command:create_api_key"
        )
