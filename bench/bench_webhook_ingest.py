"""Benchmark 3 (issue #10): signed webhook ingest on the production-shaped stack.

The Zendesk sandbox changes its tickets five times each (one second apart) and signs its webhooks
with Zendesk's scheme (HMAC of timestamp + body, timestamps current); 30% of them are sent twice and
all are shuffled, as a vendor retrying does. Client processes post them concurrently to
``/webhooks/zendesk/<connection>/`` on gunicorn; the django-q2 workers apply the stored events.
Reports acknowledged deliveries/s, the p50/p95 acknowledgement latency, and the time from the first
delivery until every event is applied (polled in the database), then checks one ticket per entity
holding its newest values. Target on 2 cores: ≥ 1,000 events/s acknowledged with p95 < 50 ms.

    .venv/bin/python bench/bench_webhook_ingest.py            # 10,000 deliveries, starts its own stack
    .venv/bin/python bench/bench_webhook_ingest.py --smoke    # a few seconds
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time
from collections import Counter

from _stack import Call, percentile, ratio, send_all, stack_arguments, stack_main

TARGET_RATE = 1_000.0
TARGET_P95_MS = 50.0
DUPLICATE_RATE = 0.3
VERSIONS = 5


def _deliveries(count: int) -> tuple[list[dict], object, int]:
    """What the Zendesk sandbox sends for ``count`` deliveries' worth of changes (not timed)."""
    from connectors.sandbox.server import start_sandbox
    from connectors.sandbox.zendesk import ZendeskSandbox
    from tests.connectors.conftest import WebhookInbox
    from tests.connectors.inbound_support import send_ticket_changes

    inbox = start_sandbox(WebhookInbox())
    app = ZendeskSandbox()
    sandbox = start_sandbox(app)
    try:
        entities = send_ticket_changes(
            app,
            f"{inbox.url}/hooks",
            deliveries=count,
            versions=VERSIONS,
            duplicate_rate=DUPLICATE_RATE,
            seed=11,
        )
        deliveries = inbox.app.deliveries()
    finally:
        inbox.stop()
        sandbox.stop()
    return deliveries, app, entities


def run(args: argparse.Namespace, port: int) -> bool:
    from connectors.models import InboundStatus, WebhookEvent
    from connectors.sandbox.zendesk import ZendeskSandbox, _epoch
    from support.models import Ticket
    from tests.connectors.inbound_support import make_connection, webhook_path

    count = 100 if args.smoke and args.deliveries is None else args.deliveries or 10_000
    target = make_connection("zendesk", name=f"zendesk-bench-{secrets.token_hex(3)}")
    print(
        f"[webhook-ingest] the sandbox signs {count:,} deliveries' worth of changes (not timed)", flush=True
    )
    deliveries, app, entities = _deliveries(count)
    assert isinstance(app, ZendeskSandbox)
    path = webhook_path(target)
    calls = [
        Call(
            "POST",
            path,
            {k: v for k, v in d["headers"].items() if k.startswith("x-") or k == "content-type"},
            d["body"],
        )
        for d in deliveries
    ]
    shares = [calls[n :: args.clients] for n in range(args.clients)]
    answers, first, last = send_all(port, shares, threads=args.threads)
    acked = last - first

    events = WebhookEvent.objects.filter(connection=target)
    deadline = time.perf_counter() + args.wait
    while time.perf_counter() < deadline and events.filter(status=InboundStatus.RECEIVED).exists():
        time.sleep(0.1)
    applied = time.perf_counter() - first
    left = events.filter(status=InboundStatus.RECEIVED).count()

    codes = Counter(a.status for a in answers)
    latencies = [a.seconds * 1000 for a in answers]
    rate = len(answers) / acked if acked else 0.0
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    stored = events.count()
    statuses = Counter(events.values_list("status", flat=True))
    held = {t.external_id: t for t in Ticket.objects.filter(source="zendesk")}
    newest = all(
        key in held
        and held[key].subject == f"T{key} v{VERSIONS - 1}"
        and int(held[key].source_modified_at.timestamp()) == _epoch(ticket["updated_at"])
        for key, ticket in app.tables["ticket"].items()
    )
    deliveries_counted = sum(events.values_list("deliveries", flat=True))
    checks = {
        "every delivery acknowledged 200": set(codes) == {200},
        "every delivery counted once on its event": deliveries_counted == len(deliveries),
        "nothing left unprocessed": left == 0 and not statuses.get(InboundStatus.FAILED),
        "one ticket per entity with its newest values": newest
        and Ticket.objects.filter(source="zendesk", external_id__in=list(app.tables["ticket"])).count()
        == entities,
    }
    ok = all(checks.values())
    print(
        f"[webhook-ingest] {len(deliveries):,} deliveries ({len(deliveries) - stored:,} repeats) of "
        f"{stored:,} events for {entities:,} tickets; {len(shares)} client processes × {args.threads} "
        f"threads; answers {dict(sorted(codes.items()))}; events {dict(sorted(statuses.items()))}"
    )
    print(
        f"[webhook-ingest] acknowledged {rate:,.0f} deliveries/s ({ratio(rate, TARGET_RATE)}); latency "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms ({ratio(p95, TARGET_P95_MS, lower_is_better=True)}), "
        f"mean {statistics.fmean(latencies):.1f} ms"
    )
    print(
        f"[webhook-ingest] all acknowledged after {acked:.1f} s; every event applied by the task workers "
        f"{applied:.1f} s after the first delivery"
    )
    for label, holds in checks.items():
        print(f"[webhook-ingest]   {'ok ' if holds else 'FAILED'} {label}")
    summary = {
        "acked_per_s": round(rate, 1),
        "p50_ms": p50,
        "p95_ms": p95,
        "applied_after_s": round(applied, 2),
        "ok": ok,
    }
    print("RESULT webhook-ingest " + json.dumps(summary), flush=True)
    return ok


def main() -> None:
    parser = stack_arguments(__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, help="about how many deliveries (10,000; 100 with --smoke)")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="requests in flight per client")
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait for the workers")
    stack_main(slug="webhook_ingest", args=parser.parse_args(), run=run)


if __name__ == "__main__":
    main()
