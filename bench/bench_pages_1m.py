"""Benchmark 4 (issue #10): the approval queue page and the KPI dashboard with 1,000,000 decision-log
rows, on the production-shaped stack.

Loads (not timed) 1,000,000 decision-log entries over the past year, each sealed into the hash chain
as the sealer would (one transaction holding the sealer's lock; loaded with COPY, the hashes
computed from the very values written), a pending queue of 5,000 items over 5,000 leads, and 30,000
decided actions with their decisions over the past 60 days for the KPIs. Then a signed-in manager
GETs ``/approvals/`` and ``/operations/kpis/`` repeatedly over HTTP on 127.0.0.1 (gunicorn, two
workers). The time is the client's, from sending the request to reading the whole page, on the
loopback (the pages carry no Server-Timing header). Query counts come from one more load of each
page through Django's test client in this process. Target on 2 cores: p95 < 150 ms.

    .venv/bin/python bench/bench_pages_1m.py             # full size, starts its own stack
    .venv/bin/python bench/bench_pages_1m.py --smoke     # 10,000 rows, a few seconds
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from _stack import Call, _send, percentile, ratio, stack_arguments, stack_main

TARGET_P95_MS = 150.0
EVENT_TYPES = ("action.proposed", "action.transitioned", "action.decided")


def _seed_actions(*, pending: int, decided: int, rng: random.Random) -> list[int]:
    """Leads, a pending queue routed by the policy, and decided actions with their decisions."""
    from django.db import connection, transaction
    from django.utils import timezone

    from approvals.models import Decision, ProposedAction
    from approvals.services import NewProposal, actions_propose_many, payload_sha256
    from sales.models import Account, Lead

    run = secrets.token_hex(3)
    accounts = Account.objects.bulk_create(
        [
            Account(
                source="demo",
                external_id=f"acc-{run}-{i}",
                name=f"Company {i}",
                account_value=Decimal(rng.randint(0, 500_000)),
            )
            for i in range(max(1, pending // 10))
        ]
    )
    leads = Lead.objects.bulk_create(
        [
            Lead(
                source="demo",
                external_id=f"lead-{run}-{i}",
                first_name="Lead",
                last_name=str(i),
                company_name=f"Company {i}",
                account=accounts[i % len(accounts)],
                deal_value=Decimal(rng.randint(0, 200_000)) if i % 3 else None,
            )
            for i in range(pending)
        ],
        batch_size=2_000,
    )
    kinds = ["enrol_cadence", "assign_owner", "send_email", "create_task", "add_to_nurture"]
    ids: list[int] = []
    for start in range(0, pending, 2_000):
        new, _ = actions_propose_many(
            proposals=[
                NewProposal(
                    kind=rng.choice(kinds),
                    domain="sales",
                    lead_id=leads[i].pk,
                    payload={"cadence": "Inbound hot"},
                    rationale="Hot and uncontacted.",
                    confidence=rng.random(),
                    risk_level=rng.choice(["low", "medium", "high"]),
                    idempotency_key=f"bench-pages-{run}-{i}",
                    proposed_by="sdr-agent",
                    matched_rule=f"rule-{i % 7}",
                )
                for i in range(start, min(start + 2_000, pending))
            ]
        )
        ids.extend(new.values())
    # SLAs over the next days, some overdue (the policy set none without policies).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE approvals_proposedaction SET sla_due_at = now() + (random() * 6600 - 600) * interval '1 minute'"
            " WHERE id = ANY(%s) AND id %% 10 <> 0",
            [ids],
        )
    now = timezone.now()
    with transaction.atomic():
        done = ProposedAction.objects.bulk_create(
            [
                ProposedAction(
                    kind=rng.choice(kinds),
                    domain="sales",
                    lead=leads[i % len(leads)],
                    payload={"cadence": "Inbound hot"},
                    rationale="Hot and uncontacted.",
                    confidence=rng.random(),
                    risk_level="medium",
                    status="approved" if i % 5 else "rejected",
                    idempotency_key=f"bench-pages-done-{run}-{i}",
                    proposed_by="sdr-agent",
                    sla_due_at=now - timedelta(minutes=rng.randint(0, 60 * 24 * 60)),
                    decided_at=now - timedelta(minutes=rng.randint(0, 60 * 24 * 60)),
                    approved_payload_sha256=payload_sha256({"cadence": "Inbound hot"}) if i % 5 else "",
                )
                for i in range(decided)
            ],
            batch_size=2_000,
        )
        from django.contrib.auth import get_user_model

        decider = get_user_model().objects.create(username=f"bench-decider-{run}")
        Decision.objects.bulk_create(
            [
                Decision(
                    action=action,
                    outcome="approve" if action.status == "approved" else "reject",
                    reason_code="" if action.status == "approved" else "bad_timing",
                    decided_by=decider,
                    original_payload=action.payload,
                    final_payload=action.payload,
                    payload_sha256=action.approved_payload_sha256,
                )
                for action in done
            ],
            batch_size=2_000,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE approvals_decision SET created_at = now() - random() * interval '60 days'"
                " WHERE decided_by_id = %s",
                [decider.pk],
            )
    return ids


def _variant(kind: str, score: int) -> dict[str, object]:
    """The fields of a loaded entry that depend only on its kind and its lead score."""
    return {
        "event_type": kind,
        "actor": "sdr-agent" if kind == "action.proposed" else "user:bench.manager",
        "input_context": {"lead_score": score, "stage": "mql"},
        "model_version": "lead-score@3",
        "prediction": {"score": score / 100, "confidence": 0.8},
        "action_taken": {"kind": "enrol_cadence", "status": "approved"},
        "approval": {"decision": "approve"} if kind == "action.decided" else {},
        "outcome": {},
        "correlation_id": None,
        "environment": "local-production",
        "subject_type": "proposed_action",
        "caused_by_id": None,
    }


# Stand-ins for the four values that change on every row, replaced in the rendered templates.
_ROW_FIELDS = {"id": "@@id@@", "event_id": "@@event@@", "timestamp": "@@time@@", "subject_id": "@@subject@@"}


def _templates(columns: list[str]) -> dict[tuple[str, int], tuple[str, str]]:
    """Per kind and score: the canonical form the sealer hashes (``audit.chain.canonical_entry``) and
    the COPY text line, each with stand-ins for the per-row values. Rendering JSON once per variant
    instead of once per row is what makes a million rows load in about a minute."""
    import json

    from audit import chain

    templates = {}
    for kind in EVENT_TYPES:
        for score in range(100):
            fields = {**_variant(kind, score), **_ROW_FIELDS}
            canonical = json.dumps(
                {name: fields[name] for name in chain.HASHED_FIELDS},
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
            ).replace('"@@id@@"', "@@id@@")

            def copy_text(value: object) -> str:
                if value is None:
                    return "\\N"
                return json.dumps(value, separators=(",", ":")) if isinstance(value, dict) else str(value)

            line = "\t".join(copy_text(fields[c]) for c in columns) + "\n"
            templates[(kind, score)] = (canonical, line)
    return templates


def _load_log(rows: int, subjects: list[int]) -> float:
    """``rows`` sealed decision-log entries over the past year, COPY'd in one transaction holding the
    sealer's lock, each with its seal chained after the current head. The hash of each entry is that
    of its canonical form, rendered from the same values as its row; ``_check_seals`` then re-hashes a
    sample read back through the ORM with ``audit.chain``, as the verifier does. Returns the seconds."""
    import hashlib

    from django.db import connection, models, transaction
    from django.utils import timezone

    from audit import chain
    from audit.models import AuditSeal, DecisionLogEntry
    from audit.services import SEAL_LOCK_KEY

    started = time.perf_counter()
    fields = {f.attname: f for f in DecisionLogEntry._meta.concrete_fields}
    plain = (models.JSONField, models.CharField, models.UUIDField, models.DateTimeField, models.BigAutoField,
             models.AutoField, models.ForeignKey)  # fmt: skip
    odd = [name for name in chain.HASHED_FIELDS if type(fields[name]) not in plain]
    if odd:
        # Encrypted or otherwise transformed columns would need their own text form here.
        raise SystemExit(f"the loader writes plain columns only; these are not: {', '.join(odd)}")
    columns = list(chain.HASHED_FIELDS)
    quoted = ", ".join(connection.ops.quote_name(fields[c].column) for c in columns)
    log_table = connection.ops.quote_name(DecisionLogEntry._meta.db_table)
    seal_table = connection.ops.quote_name(AuditSeal._meta.db_table)
    templates = _templates(columns)
    now = timezone.now()
    start_us = int((now - timedelta(days=365)).timestamp() * 1_000_000)
    step_us = 365 * 86_400 * 1_000_000 // rows
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    sha256 = hashlib.sha256
    # Fresh event ids on every run (the database may hold an earlier run's rows).
    ids = random.Random(secrets.randbits(64))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
        # Ids taken from the table's sequence, so the ORM's next inserts come after them.
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [DecisionLogEntry._meta.db_table])
        sequence_name = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s)", [sequence_name])
        first_id = cursor.fetchone()[0]
        cursor.execute("SELECT setval(%s, %s)", [sequence_name, first_id + rows - 1])
        head = AuditSeal.objects.order_by("-sequence").values_list("sequence", "chain_hash").first()
        sequence, previous = head if head is not None else (0, chain.GENESIS)
        sealed_at = now.isoformat()
        for batch in range(0, rows, 50_000):
            entries, seals = [], []
            for n in range(batch, min(batch + 50_000, rows)):
                canonical, line = templates[(EVENT_TYPES[n % 3], n % 100)]
                moment = epoch + timedelta(microseconds=start_us + step_us * n)
                values = (
                    ("@@id@@", str(first_id + n)),
                    ("@@event@@", str(uuid.UUID(int=ids.getrandbits(128), version=4))),
                    ("@@time@@", None),
                    ("@@subject@@", str(subjects[n % len(subjects)])),
                )
                for marker, value in values:
                    if value is None:
                        canonical = canonical.replace(marker, moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
                        line = line.replace(marker, moment.isoformat())
                    else:
                        canonical = canonical.replace(marker, value)
                        line = line.replace(marker, value)
                entries.append(line)
                digest = sha256(canonical.encode()).hexdigest()
                sequence += 1
                previous = sha256(f"{previous}{digest}".encode("ascii")).hexdigest()
                seals.append(f"{first_id + n}\t{sequence}\t{digest}\t{previous}\t{sealed_at}\n")
            with cursor.cursor.copy(f"COPY {log_table} ({quoted}) FROM STDIN") as copy:
                copy.write("".join(entries))
            with cursor.cursor.copy(
                f"COPY {seal_table} (entry_id, sequence, entry_hash, chain_hash, sealed_at) FROM STDIN"
            ) as copy:
                copy.write("".join(seals))
            print(f"  {min(batch + 50_000, rows):,} decision-log rows", flush=True)
    with connection.cursor() as cursor:
        for table in (log_table, seal_table, "approvals_proposedaction", "approvals_decision"):
            cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def _check_seals(sample: int, rng: random.Random) -> bool:
    """A random sample of the loaded entries hashes, read back through the ORM, to their seals."""
    from audit import chain
    from audit.models import AuditSeal, DecisionLogEntry

    ids = list(AuditSeal.objects.order_by("-sequence").values_list("entry_id", flat=True)[:200_000])
    chosen = rng.sample(ids, min(sample, len(ids)))
    stored = dict(AuditSeal.objects.filter(entry_id__in=chosen).values_list("entry_id", "entry_hash"))
    read = DecisionLogEntry.objects.filter(pk__in=chosen).values(*chain.HASHED_FIELDS)
    return all(stored[row["id"]] == chain.entry_hash(row) for row in read) and len(stored) == len(chosen)


def _queries(client: object, url: str) -> tuple[int, int]:
    """SQL statements and status of one load of ``url`` through the test client in this process."""
    from django.db import connection

    count = 0

    def counting(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counting):
        response = client.get(url)  # type: ignore[attr-defined]
    return count, response.status_code


def run(args: argparse.Namespace, port: int) -> bool:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from audit.models import DecisionLogEntry

    rng = random.Random(5)
    rows = args.rows if args.rows is not None else (10_000 if args.smoke else 1_000_000)
    repeat = args.repeat if args.repeat is not None else (5 if args.smoke else 60)
    pending, decided = (100, 300) if args.smoke else (5_000, 30_000)
    print(f"[pages-1m] seeding {pending:,} pending and {decided:,} decided actions (not timed)", flush=True)
    subjects = _seed_actions(pending=pending, decided=decided, rng=rng)
    print(f"[pages-1m] loading {rows:,} sealed decision-log rows (not timed)", flush=True)
    load_seconds = _load_log(rows, subjects)
    total_rows = DecisionLogEntry.objects.count()
    seals_ok = _check_seals(500, rng)

    manager = get_user_model().objects.create(
        username=f"bench-manager-{secrets.token_hex(3)}", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(manager)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    results = {}
    checks = {
        f"{total_rows:,} decision-log rows (≥ {rows:,})": total_rows >= rows,
        "a sample of 500 loaded entries matches its seals": seals_ok,
    }
    pages = (
        ("approval queue", "/approvals/", [f"/approvals/{i}/".encode() for i in subjects]),
        ("KPI dashboard", "/operations/kpis/", [b"Approval SLA attainment"]),
    )
    for label, url, expected in pages:
        call = Call("GET", url, {"Cookie": cookie, "Host": "127.0.0.1"})
        for _ in range(3):  # warm both workers
            _send(port, call)
        answers = [_send(port, call) for _ in range(repeat)]
        times = [a.seconds * 1000 for a in answers]
        queries, status = _queries(client, url)
        results[label] = {
            "median_ms": statistics.median(times),
            "p95_ms": percentile(times, 0.95),
            "queries": queries,
        }
        checks[f"{label} answers 200 every time"] = {a.status for a in answers} == {200} and status == 200
        checks[f"{label} shows its content"] = any(text in answers[-1].body for text in expected)
        print(
            f"[pages-1m] {label:15s} {url:20s} median {results[label]['median_ms']:6.1f} ms  p95 "
            f"{results[label]['p95_ms']:6.1f} ms ({ratio(results[label]['p95_ms'], TARGET_P95_MS, lower_is_better=True)})"
            f"  {queries} queries  ({repeat} loads over HTTP, client-side time)"
        )
    ok = all(checks.values())
    print(f"[pages-1m] {rows:,} rows loaded and sealed in {load_seconds:.1f} s")
    for label, holds in checks.items():
        print(f"[pages-1m]   {'ok ' if holds else 'FAILED'} {label}")
    print("RESULT pages-1m " + json.dumps({**results, "rows": total_rows, "ok": ok}), flush=True)
    return ok


def main() -> None:
    parser = stack_arguments(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="decision-log rows to load (1,000,000; 10,000 with --smoke)")
    parser.add_argument("--repeat", type=int, help="loads of each page (60; 5 with --smoke)")
    stack_main(slug="pages_1m", args=parser.parse_args(), run=run)


if __name__ == "__main__":
    main()
