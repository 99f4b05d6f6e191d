from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sales.cadence_services import cadences_advance


class Command(BaseCommand):
    help = (
        "Take every due cadence step and exit (what the scheduled cadence tick does; safe to re-run). "
        "Approved enrolments start in the outbox: manage.py execute_actions."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        steps = cadences_advance()
        exited = ", ".join(f"{reason} {n}" for reason, n in sorted(steps.exited.items())) or "none"
        self.stdout.write(
            f"steps: {steps.due} due: {steps.proposed} proposed, {steps.skipped} skipped, {steps.deferred} waiting "
            f"(pacing or quiet hours), {steps.failed} failed; exits: {exited}; {steps.completed} completed; "
            f"{steps.withdrawn} unsent messages withdrawn"
        )
