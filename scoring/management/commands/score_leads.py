import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from sales.models import Lead
from scoring.runner import NoChampion, leads_score


class Command(BaseCommand):
    help = "Score leads with the champion (and canary/shadow) lead models; unchanged leads are skipped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", help="Only leads of this source.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        leads = Lead.objects.all()
        if options["source"]:
            leads = leads.filter(source=options["source"])
        with tqdm(total=leads.count(), unit="lead", file=sys.stderr, disable=options["no_progress"]) as bar:
            try:
                summary = leads_score(
                    actor="command:score_leads", source=options["source"], progress=bar.update
                )
            except NoChampion as exc:
                raise CommandError(str(exc)) from exc
        rate = summary.leads / summary.seconds if summary.seconds else 0
        self.stdout.write(
            f"scored {summary.leads} leads in {summary.seconds:.1f}s ({rate:,.0f}/s): new scores {summary.written}, "
            f"unchanged {summary.unchanged}"
        )
