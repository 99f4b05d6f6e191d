import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from approvals.feedback import FIELDS, LABELS, decision_example
from approvals.models import Decision
from core.spreadsheet import safe_row
from security.masking import may_view_personal_data

VALUES = (
    "id", "action_id", "action__kind", "action__domain", "action__matched_rule", "action__confidence",
    "model_version", "outcome", "reason_code", "comment", "decided_by__username", "created_at", "time_to_decide",
    "original_payload", "final_payload", "payload_diff",
)  # fmt: skip


class Command(BaseCommand):
    help = (
        "Write human decisions as labelled examples (approve/reject/edit) for retraining. Personal data "
        "is masked unless --user names someone who may see it (security.view_personal_data)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        parser.add_argument("--since", help="Only decisions at or after this ISO date-time.")
        parser.add_argument(
            "--user",
            help="Export on behalf of this username: personal data in clear only if they may see it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        personal_data = False
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"], is_active=True).first()
            if user is None:
                raise CommandError(f"user: no active user {options['user']!r}")
            personal_data = may_view_personal_data(user)
        # Bulk approvals are no judgement of each item: they would teach that rubber-stamping is right.
        decisions = Decision.objects.filter(
            outcome__in=list(LABELS), decided_by__isnull=False, bulk=False
        ).order_by("id")
        if options["since"]:
            since: datetime | None = parse_datetime(options["since"])
            if since is None:
                raise CommandError(f"since: '{options['since']}' is not an ISO date-time")
            decisions = decisions.filter(created_at__gte=since)
        written = 0
        with options["file"].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS) if options["format"] == "csv" else None
            if writer:
                writer.writeheader()
            for row in decisions.values(*VALUES).iterator(chunk_size=2000):
                example = decision_example(row, personal_data=personal_data)
                if writer:
                    # A comment (or a payload an agent wrote) is never run as a spreadsheet formula.
                    writer.writerow(
                        safe_row(
                            {
                                k: json.dumps(v) if isinstance(v, dict | list) else v
                                for k, v in example.items()
                            }
                        )
                    )
                else:
                    handle.write(json.dumps(example, default=str) + "\n")
                written += 1
        self.stdout.write(f"wrote {written} labelled decisions to {options['file']}")
