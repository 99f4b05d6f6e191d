import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring.choices import AlertStatus
from scoring.models import DriftAlert
from scoring.monitoring import NothingToCheck, drift_check


class Command(BaseCommand):
    help = "Check drift of recent leads against the champion's training data; print it and open alerts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = drift_check(actor="command:drift_report")
        except NothingToCheck as exc:
            raise CommandError(str(exc)) from exc
        alerts = list(
            DriftAlert.objects.filter(status=AlertStatus.OPEN)
            .select_related("model_version")
            .order_by("-psi")
        )
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "model_version": report.model_version.label,
                        "level": report.level,
                        "recent_leads": report.recent_size,
                        "window": [report.window_start.isoformat(), report.window_end.isoformat()],
                        "features": report.results,
                        "open_alerts": [
                            {
                                "feature": a.feature,
                                "psi": a.psi,
                                "model_version": a.model_version.label,
                                "since": a.created_at.isoformat(),
                            }
                            for a in alerts
                        ],
                    },
                    indent=2,
                )
            )
            return
        self.stdout.write(
            f"drift of {report.recent_size} recent leads vs {report.model_version.label}: {report.level.upper()}"
        )
        self.stdout.write(f"{'feature':<28}{'PSI':>8}{'stat':>9}{'p':>10}  level")
        for r in sorted(report.results, key=lambda r: -r["psi"]):
            self.stdout.write(
                f"{r['feature']:<28}{r['psi']:>8.3f}{r['statistic']:>9.3f}{r['p_value']:>10.2g}  {r['level']}"
            )
        self.stdout.write(f"open alerts: {', '.join(a.feature for a in alerts) or 'none'}")
