"""Serve every registered vendor emulator on 127.0.0.1 until interrupted (the demo's fake vendors)."""

from __future__ import annotations

import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.sandbox import emulators
from connectors.sandbox.server import RunningSandbox, start_sandbox


class Command(BaseCommand):
    help = "Start the local vendor API emulators (Salesforce, HubSpot …) and print their URLs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Interface to bind (default 127.0.0.1).")
        parser.add_argument(
            "--port",
            action="append",
            default=[],
            metavar="NAME=PORT",
            help="Serve emulator NAME on PORT instead of its default (repeatable; 0 picks a free port).",
        )
        parser.add_argument(
            "--only", action="append", default=[], metavar="NAME", help="Start only these emulators."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        available = emulators()
        ports = {name: cls.default_port for name, cls in available.items()}
        for item in options["port"]:
            name, _, port = item.partition("=")
            if name not in available or not port.isdigit():
                raise CommandError(f"--port {item!r}: expected NAME=PORT with NAME in {', '.join(available)}")
            ports[name] = int(port)
        wanted = options["only"] or list(available)
        unknown = set(wanted) - set(available)
        if unknown:
            raise CommandError(f"unknown emulators: {', '.join(sorted(unknown))}")
        running: list[RunningSandbox] = []
        try:
            for name in wanted:
                sandbox = start_sandbox(available[name](), host=options["host"], port=ports[name])
                running.append(sandbox)
                self.stdout.write(f"{name}: {sandbox.url}")
            self.stdout.flush()
            threading.Event().wait()  # serve until Ctrl-C
        except KeyboardInterrupt:
            pass
        finally:
            for sandbox in running:
                sandbox.stop()
