"""Benchmark: 10,000 webhook deliveries (30% repeats, shuffled) acknowledged over HTTP, then applied.

The Zendesk sandbox changes 1,539 tickets five times each (one second apart) and sends its signed
webhooks, repeated and shuffled, to a local inbox; the recorded deliveries are then posted over HTTP
to our endpoint served by Django's threaded WSGI server on 127.0.0.1 (two sender processes of two
threads each), and the
stored events applied in batches as the processing task does. Reports events acknowledged per second,
the median and p95 acknowledgement latency, the time until every event was applied, and checks that
exactly one ticket per entity holds its newest values.

    .venv/bin/python bench/bench_webhooks.py                  # both databases
    .venv/bin/python bench/bench_webhooks.py --database sqlite --deliveries 2000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from _databases import ROOT, bench_databases, fresh_database

DATABASES = bench_databases("webhooks")
DUPLICATE_RATE = 0.3
VERSIONS = 5
CLIENT_PROCESSES = 2
CLIENT_THREADS = 2


def _serve_django() -> tuple[str, object]:
    """Our app on an ephemeral port in a thread (Django's threaded WSGI server, quiet)."""
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=True)
    server.daemon_threads = True
    server.set_app(get_wsgi_application())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def _deliveries(count: int) -> tuple[list[dict], object, int]:
    """What the Zendesk sandbox sends for ``count`` deliveries' worth of changes (not timed)."""
    sys.path.insert(0, str(ROOT))
    from connectors.sandbox.server import start_sandbox
    from connectors.sandbox.zendesk import ZendeskSandbox
    from tests.connectors.conftest import WebhookInbox
    from tests.connectors.inbound_support import send_ticket_changes

    inbox = start_sandbox(WebhookInbox())
    app = ZendeskSandbox()
    sandbox = start_sandbox(app)
    entities = send_ticket_changes(
        app,
        f"{inbox.url}/hooks",
        deliveries=count,
        versions=VERSIONS,
        duplicate_rate=DUPLICATE_RATE,
        seed=11,
    )
    deliveries = inbox.app.deliveries()
    inbox.stop()
    sandbox.stop()
    return deliveries, app, entities


def _post(url: str, delivery: dict) -> tuple[int, float]:
    headers = {k: v for k, v in delivery["headers"].items() if k.startswith("x-") or k == "content-type"}
    request = urllib.request.Request(url, data=delivery["body"], headers=headers, method="POST")  # noqa: S310
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - 127.0.0.1 only
        answer.read()
        return answer.status, time.perf_counter() - started


def _post_all(url: str, deliveries: list[dict]) -> list[tuple[int, float]]:
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        return list(pool.map(lambda d: _post(url, d), deliveries))


def run(name: str, count: int) -> None:
    os.environ["DATABASE_URL"] = DATABASES[name]
    # Persistent database connections, as a deployment runs (a new PostgreSQL connection per
    # request would cost more than the whole acknowledgement).
    os.environ.setdefault("CONN_MAX_AGE", "60")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Sum

    from connectors.inbound import inbound_process_pending
    from connectors.models import InboundStatus, WebhookEvent
    from connectors.sandbox.zendesk import ZendeskSandbox, _epoch
    from support.models import Ticket
    from tests.connectors.inbound_support import make_connection, webhook_path

    call_command("migrate", verbosity=0)
    connection_row = make_connection("zendesk")
    print(f"[{name}] the sandbox is sending {count} deliveries' worth of changes (not timed)", flush=True)
    deliveries, app, entities = _deliveries(count)
    assert isinstance(app, ZendeskSandbox)
    base, server = _serve_django()
    url = f"{base}{webhook_path(connection_row)}"

    chunks = [deliveries[n::CLIENT_PROCESSES] for n in range(CLIENT_PROCESSES)]
    started = time.perf_counter()
    # Senders in their own processes, so they do not compete with the server for the GIL.
    with ProcessPoolExecutor(CLIENT_PROCESSES) as pool:
        answers = [a for chunk in pool.map(_post_all, [url] * len(chunks), chunks) for a in chunk]
    acked = time.perf_counter() - started
    summary = inbound_process_pending(connection_id=connection_row.pk)
    processed = time.perf_counter() - started
    server.shutdown()  # type: ignore[attr-defined]

    latencies = sorted(latency * 1000 for _, latency in answers)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    events = WebhookEvent.objects.count()
    held = {t.external_id: t for t in Ticket.objects.filter(source="zendesk")}
    newest = all(
        held[key].subject == f"T{key} v{VERSIONS - 1}"
        and int(held[key].source_modified_at.timestamp()) == _epoch(ticket["updated_at"])
        for key, ticket in app.tables["ticket"].items()
    )
    checks = {
        "every delivery answered 200": {status for status, _ in answers} == {200},
        "one ticket per entity": len(held) == entities,
        "each with its newest values": newest,
        "every delivery counted on its event": (
            WebhookEvent.objects.aggregate(n=Sum("deliveries"))["n"] == len(deliveries)
        ),
        "nothing left unprocessed": not WebhookEvent.objects.filter(status=InboundStatus.RECEIVED).exists(),
    }
    correct = all(checks.values())
    print(
        f"[{name}] {len(deliveries)} deliveries ({len(deliveries) - events} repeats) of {events} events "
        f"for {entities} tickets, {CLIENT_PROCESSES}x{CLIENT_THREADS} senders, database {connection.vendor}"
    )
    print(
        f"[{name}] acknowledged {len(deliveries) / acked:.0f} deliveries/s; ack latency median "
        f"{statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms"
    )
    print(
        f"[{name}] applied in {processed - acked:.1f} s ({events / (processed - acked):.0f} events/s: "
        f"{summary.processed} processed, {summary.ignored_stale} stale); all applied "
        f"{processed:.1f} s after the first delivery"
    )
    print(f"[{name}] one ticket per entity with its newest values: {'YES' if correct else 'NO'}")
    for label, holds in checks.items():
        if not holds:
            print(f"[{name}]   failed: {label}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=[*DATABASES, "all"], default="all")
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        run(args.database, args.deliveries)
        return
    for name in DATABASES if args.database == "all" else [args.database]:
        fresh_database(DATABASES[name])
        # A process per database: settings are read once at start-up.
        command = [
            sys.executable,
            __file__,
            "--database",
            name,
            "--deliveries",
            str(args.deliveries),
            "--inner",
        ]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
