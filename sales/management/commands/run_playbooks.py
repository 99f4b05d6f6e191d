from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sales.services import playbooks_run


class Command(BaseCommand):
    help = (
        "Evaluate the active playbook rules and propose actions (safe to re-run: nothing is proposed twice)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--lead-ids", type=int, nargs="+", help="Only these leads (default: all).")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args: Any, **options: Any) -> None:
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            if options["verbosity"] > 1:
                self.stdout.write(f"  {done} leads evaluated")

        summary = playbooks_run(
            actor="command:run_playbooks",
            lead_ids=options["lead_ids"],
            batch_size=options["batch_size"],
            progress=progress,
        )
        if not summary.rules:
            self.stdout.write("no active playbook rules: nothing to do")
            return
        self.stdout.write(
            f"{summary.leads} leads, {summary.rules} rules: {summary.matches} matches, "
            f"{summary.created} new proposals ({summary.already_proposed} already proposed), "
            f"routed {summary.routed or '{}'} in {summary.seconds:.1f}s"
        )
