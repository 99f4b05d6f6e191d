from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sales.cadence_services import cadences_advance, enrolments_from_approved


class Command(BaseCommand):
    help = (
        "Start approved cadence enrolments, then take every due step and exit "
        "(what the scheduled cadence tick does; safe to re-run)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        enrolled = enrolments_from_approved()
        self.stdout.write(
            f"enrolments: {enrolled.enrolled} new ({enrolled.held_for_later_days} start on later days), "
            f"{enrolled.already_enrolled} already enrolled, {enrolled.failed} failed, {enrolled.cancelled} cancelled"
        )
        steps = cadences_advance()
        exited = ", ".join(f"{reason} {n}" for reason, n in sorted(steps.exited.items())) or "none"
        self.stdout.write(
            f"steps: {steps.due} due: {steps.proposed} proposed, {steps.skipped} skipped, {steps.deferred} waiting "
            f"(pacing or quiet hours), {steps.failed} failed; exits: {exited}; {steps.completed} completed; "
            f"{steps.withdrawn} unsent messages withdrawn"
        )
