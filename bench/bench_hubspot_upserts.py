"""Benchmark: push 20,000 lead upserts to the HubSpot sandbox at the Professional-tier limit (190
requests per rolling 10 s, 100 records per batch request) through the HubSpot connector, paced by
the per-connection rate limiter; checks issue 6's targets: at least 90% of the theoretical
1,900 records/s, and at most 1% of requests answered 429.

Several workers (threads, each with its own client and connection pool) share one ``Throttle``;
a batch answered 429 or 5xx is retried after ``retry_delay`` (an upsert is repeatable). The sandbox
runs in its own process (``manage.py run_sandbox``), as a vendor would, and must end up having
created exactly one contact per record.

    .venv/bin/python bench/bench_hubspot_upserts.py
    .venv/bin/python bench/bench_hubspot_upserts.py --records 60000 --workers 8 --store redis

The first window is idle, so a short run can go faster than the steady rate: 20,000 records are
200 requests, 190 of which may go at once and the last 10 ten seconds later (at best ~2,000/s).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

from _databases import ROOT

THEORETICAL_RECORDS_PER_SECOND = 1_900
TARGET_SHARE = 0.90
MAX_429_SHARE = 0.01
BATCH = 100


def push(base_url: str, args: argparse.Namespace) -> tuple[float, int]:
    """Upsert ``args.records`` contacts in batches from ``args.workers`` threads; (seconds, failures)."""
    from connectors.base import ConnectionConfig, Connector, ConnectorError
    from connectors.registry import connector_for
    from connectors.resilience import RateLimitPolicy, RetryPolicy, retry_delay, should_retry
    from connectors.sandbox.hubspot import HubSpotSandbox
    from connectors.throttle import MemoryStore, RedisStore, Throttle, ThrottleStore

    max_requests, window = HubSpotSandbox.DEFAULT_LIMIT
    store: ThrottleStore = MemoryStore()
    if args.store == "redis":
        import redis

        store = RedisStore(redis.Redis.from_url("redis://127.0.0.1:6379/0"), prefix=f"bench:{time.time()}:")
    throttle = Throttle(
        store,
        "hubspot:bench",
        rate=RateLimitPolicy(max_requests=max_requests, window_seconds=window, margin_seconds=args.margin),
        max_wait_seconds=60.0,
    )
    config = ConnectionConfig(
        vendor="hubspot",
        base_url=base_url,
        credentials={"access_token": "sandbox-token"},
        timeout_seconds=10.0,
    )
    batches: queue.Queue[list[dict[str, Any]]] = queue.Queue()
    for start in range(0, args.records, BATCH):
        batches.put(
            [
                {
                    "agentops_external_id": f"lead-{n}",
                    "email": f"lead{n}@example.com",
                    "lastname": f"Lead {n}",
                }
                for n in range(start, min(start + BATCH, args.records))
            ]
        )
    failures: list[BaseException] = []
    policy = RetryPolicy(max_attempts=8, base_seconds=0.5, cap_seconds=10.0)

    def worker(hubspot: Connector) -> None:
        while True:
            try:
                batch = batches.get_nowait()
            except queue.Empty:
                return
            attempt = 0
            while True:
                sent_at = None
                try:
                    sent_at = throttle.acquire()
                    hubspot.upsert("lead", id_property="agentops_external_id", records=batch)
                except ConnectorError as exc:
                    throttle.record(exc, sent_at=sent_at)
                    if not should_retry(exc, attempt, policy):
                        failures.append(exc)
                        break
                    time.sleep(retry_delay(exc, attempt, policy))
                    attempt += 1
                    continue
                throttle.record(None, sent_at=sent_at)
                break

    # Clients are built (and the SDK's lazily imported modules loaded) before the clock starts.
    clients = [connector_for(config) for _ in range(args.workers)]
    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, len(failures)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--store", choices=["memory", "redis"], default="memory")
    parser.add_argument("--margin", type=float, default=0.0, help="Seconds added to our window.")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    sandbox = subprocess.Popen(
        [sys.executable, "manage.py", "run_sandbox", "--only", "hubspot", "--port", "hubspot=0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        base_url = sandbox.stdout.readline().strip().split(": ", 1)[1]
        elapsed, failures = push(base_url, args)
        with urllib.request.urlopen(f"{base_url}/__sandbox/effects", timeout=10) as answer:  # noqa: S310
            counts = json.loads(answer.read())
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    requests_sent = sum(counts["responses"].values())
    rate_limited = counts["responses"].get("429", 0)
    contacts = counts["effects"].get("create contacts", 0)
    achieved = args.records / elapsed
    share = achieved / THEORETICAL_RECORDS_PER_SECOND
    print(f"records    {args.records:,} in {elapsed:.2f} s, {args.workers} workers, {args.store} store")
    print(f"achieved   {achieved:,.0f} records/s = {share:.1%} of {THEORETICAL_RECORDS_PER_SECOND:,}/s")
    print(f"requests   {requests_sent} ({rate_limited} answered 429 = {rate_limited / requests_sent:.2%})")
    print(f"sandbox    {counts['effects']}; failures {failures}")
    met = share >= TARGET_SHARE and rate_limited / requests_sent <= MAX_429_SHARE
    met = met and contacts == args.records and not failures
    print("targets met" if met else "TARGETS MISSED")
    if not met:
        sys.exit(1)


if __name__ == "__main__":
    main()
