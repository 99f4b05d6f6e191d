"""Execute approved actions through their connections until nothing is due (``connectors.execution``)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from connectors.execution import ExecutionSettings, actions_execute
from connectors.resilience import BreakerPolicy, RetryPolicy


class Command(BaseCommand):
    help = (
        "Execute approved actions (exactly once, with retries, breaker, rate limit, kill switches and "
        "quotas) until nothing comes due within --idle-seconds. Safe to run twice and to kill."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = ExecutionSettings()
        parser.add_argument("--workers", type=int, default=1, help="Threads sharing the queue.")
        parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
        parser.add_argument("--max-attempts", type=int, default=defaults.max_attempts)
        parser.add_argument("--lease-seconds", type=float, default=defaults.lease_seconds)
        parser.add_argument("--idle-seconds", type=float, default=defaults.idle_seconds)
        parser.add_argument("--hold-recheck-seconds", type=float, default=defaults.hold_recheck_seconds)
        parser.add_argument("--backoff-base", type=float, default=defaults.retry.base_seconds)
        parser.add_argument("--backoff-cap", type=float, default=defaults.retry.cap_seconds)
        parser.add_argument("--breaker-open-seconds", type=float, default=defaults.breaker.open_seconds)
        parser.add_argument(
            "--breaker-probe-seconds",
            type=float,
            default=defaults.breaker.probe_timeout_seconds,
            help="How long a half-open breaker waits for its probe's answer before letting another out.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        settings = ExecutionSettings(
            lease_seconds=options["lease_seconds"],
            max_attempts=options["max_attempts"],
            retry=RetryPolicy(base_seconds=options["backoff_base"], cap_seconds=options["backoff_cap"]),
            breaker=BreakerPolicy(
                open_seconds=options["breaker_open_seconds"],
                probe_timeout_seconds=options["breaker_probe_seconds"],
            ),
            hold_recheck_seconds=options["hold_recheck_seconds"],
            batch_size=options["batch_size"],
            idle_seconds=options["idle_seconds"],
        )
        summary = actions_execute(settings=settings, workers=options["workers"])
        counts = ", ".join(f"{status} {n}" for status, n in sorted(summary.counts.items())) or "nothing due"
        self.stdout.write(f"{counts} in {summary.seconds:.1f}s")
