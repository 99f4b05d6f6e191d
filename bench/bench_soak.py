"""Soak (issue #10): mixed traffic against the production-shaped stack for a while, a task worker
killed with SIGKILL midway (mid-task) and started again, then an integrity check.

The stack is ``scripts/serve.sh`` (gunicorn, two web workers, PostgreSQL ``h8_soak``, Redis db 8)
started through ``bench/_stack.py`` with ``Q_CLUSTERS=0``; this script runs the one django-q2 cluster
itself (``manage.py qcluster``, two workers) so it can kill its whole process group and start it
again without stopping the web side. Client threads send, until the time is up:

- lead upserts (``POST /api/v1/leads/bulk/``, 20 rows from a pool, so most are updates or unchanged),
- proposals (``POST /api/v1/actions/``, ``enrol_cadence`` for an upserted lead; 10% repeat an
  idempotency key and must get the same action back),
- decisions (``POST /api/v1/actions/<id>/approve/`` 80% / ``reject/`` 20% on pending ones),
- Zendesk webhook deliveries (signed; 20% repeats of an earlier event),
- page loads (the approval queue and the lead list as a signed-in person, ``/metrics``).

At the middle a drill task (``tests.taskruns.ledger_tasks.effect_after_hold_task``) is held
running in the cluster, the cluster is killed with SIGKILL, and a new one started. At the end the
queue is drained (the reaper run a few times, a last cadence tick) and the script checks: one action
per idempotency key; at most one decision and one execution per action, every approved action
executed, failed with its reason, or counted as still waiting; every webhook event stored once and
applied; the drill's effect exactly once after its retry; no task run left running or retrying;
``verify_audit_log`` passes. The resident memory of every process of the stack is sampled throughout:
first, after warm-up, last and max, and a verdict (growth after warm-up under 20%).

    .venv/bin/python bench/bench_soak.py                 # 10 minutes
    .venv/bin/python bench/bench_soak.py --minutes 3
    .venv/bin/python bench/bench_soak.py --smoke         # about 30 s of traffic

``smoke()`` runs the short version and returns the result (for the serve smoke test).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import MACHINE, ROOT, Stack, database_url, django_setup, flush_redis, fresh_database

DATABASE = "h8_soak"
REDIS_URL = "redis://127.0.0.1:6379/8"
PORTS = range(8181, 8190)
#: The cluster's task timeout in the soak, and the ledger's lease (longer, as the settings require):
#: short, so the killed worker's run is retried within the soak rather than 11 minutes later.
TASK_TIMEOUT = 30
LEASE_SECONDS = 40
GROWTH_LIMIT = 1.20
WEIGHTS = {"upsert": 3, "propose": 3, "decide": 3, "webhook": 2, "page": 1}
ZENDESK_SECRET = "soak-webhook-secret"  # noqa: S105 - the soak's own test connection


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


# --- Processes and their memory -------------------------------------------------------------------


def descendants(roots: list[int]) -> list[int]:
    """The processes under ``roots`` (and the roots), whatever process group or session they are in."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z":
                    parents[int(entry.name)] = int(fields[1])
    found = {r for r in roots if r in parents}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found and pid not in found}
        found |= more
        grew = bool(more)
    return sorted(found)


def group_members(group: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == group and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


def rss_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def describe(pid: int) -> str:
    with contextlib.suppress(OSError):
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        text = " ".join(w.decode(errors="replace") for w in words if w)
        for marker, name in (("gunicorn", "gunicorn"), ("qcluster", "qcluster"), ("serve.sh", "serve.sh")):
            if marker in text:
                return name
        return Path(words[0].decode()).name if words and words[0] else "?"
    return "?"


@dataclass
class MemorySampler:
    """Samples the RSS of every process under the given processes every ``every`` seconds."""

    groups: list[int]
    every: float
    samples: dict[int, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    names: dict[int, str] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            # By descent, not by process group: serve.sh may start gunicorn in a session of its own.
            for pid in descendants(list(self.groups)):
                value = rss_mb(pid)
                if value is not None:
                    self.names.setdefault(pid, describe(pid))
                    self.samples[pid].append((time.monotonic() - started, value))
            self.stop.wait(self.every)

    def report(self, *, warm_up: float, duration: float) -> tuple[list[dict], bool]:
        rows, stable = [], True
        for pid, points in sorted(self.samples.items()):
            if self.names.get(pid) in ("serve.sh", "bash", "?") or len(points) < 3:
                continue
            lived = points[-1][0] - points[0][0]
            # Warm-up counted from the process's own first sample (the restarted cluster starts midway).
            after = [v for t, v in points if t >= points[0][0] + warm_up] or [points[-1][1]]
            growth = points[-1][1] / after[0] if after[0] else 1.0
            # Judged only on processes that lived through most of the run (not the killed cluster).
            judged = lived >= 0.4 * duration and lived >= 2 * warm_up
            ok = growth < GROWTH_LIMIT if judged else True
            stable = stable and ok
            rows.append(
                {
                    "pid": pid,
                    "process": self.names.get(pid, "?"),
                    "first_mb": round(points[0][1], 1),
                    "warm_mb": round(after[0], 1),
                    "last_mb": round(points[-1][1], 1),
                    "max_mb": round(max(v for _, v in points), 1),
                    "growth": round(growth, 3),
                    "lived_s": round(lived),
                    "verdict": ("stable" if ok else "GROWING") if judged else "not judged (short-lived)",
                }
            )
        return rows, stable


def start_cluster(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


# --- Seed and traffic -----------------------------------------------------------------------------


@dataclass
class World:
    writer_key: str
    submitter_key: str
    decider_key: str
    session_cookie: str
    connection: str


def seed() -> World:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.contrib.sessions.backends.db import SessionStore

    from connectors.models import Connection
    from sales.models import Cadence
    from security.choices import Scope
    from security.services import apikey_create
    from taskruns.models import TaskSettings

    TaskSettings.objects.update(lease_seconds=LEASE_SECONDS)
    Cadence.objects.get_or_create(name="Soak")
    users = get_user_model().objects
    perms = Permission.objects

    def user(name: str, *codenames: str, **extra: object) -> object:
        made = users.create(username=f"soak-{name}-{secrets.token_hex(3)}", **extra)
        made.user_permissions.add(*perms.filter(codename__in=codenames))
        return made

    writer = user("writer", "add_lead", "change_lead")
    submitter = user("agent", "add_proposedaction")
    decider = user("approver", "change_proposedaction", is_superuser=True)  # decides in every domain
    person = user("person", is_staff=True, is_superuser=True)

    def key(owner: object, scope: str) -> str:
        return apikey_create(
            user=owner, name=f"soak {scope}", scopes=[scope], rate_per_minute=10_000_000
        ).plain

    session = SessionStore()
    session["_auth_user_id"] = str(person.pk)
    session["_auth_user_backend"] = settings.AUTHENTICATION_BACKENDS[0]
    session["_auth_user_hash"] = person.get_session_auth_hash()
    session.create()
    connection = Connection(name="soak-zendesk", vendor="zendesk", base_url="http://127.0.0.1:9/")
    connection.set_credentials({"webhook_secret": ZENDESK_SECRET})
    connection.save()
    return World(
        writer_key=key(writer, Scope.WRITE_LEADS),
        submitter_key=key(submitter, Scope.SUBMIT_ACTIONS),
        decider_key=key(decider, Scope.DECIDE_ACTIONS),
        session_cookie=f"{settings.SESSION_COOKIE_NAME}={session.session_key}",
        connection=connection.name,
    )


@dataclass
class Traffic:
    """What the clients sent and what came back, shared by the client threads (under ``lock``)."""

    world: World
    port: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: Counter = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    leads: list[str] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)  # idempotency key -> action id
    repeats_same: int = 0
    repeats_other: int = 0
    # (key, the first answer's id, the repeat's status and id): evidence for the check's failure.
    repeats_other_seen: list[tuple[str, int, int, int]] = field(default_factory=list)
    pending: list[tuple[int, str]] = field(default_factory=list)  # id, payload_sha256 as proposed
    approved: set[int] = field(default_factory=set)
    rejected: set[int] = field(default_factory=set)
    events: list[dict] = field(default_factory=list)
    tickets: set[str] = field(default_factory=set)
    _first_lead: dict[str, dict] = field(default_factory=dict)
    first_refusals: dict[str, str] = field(default_factory=dict)

    def send(self, op: str, method: str, path: str, body: object = None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(
                method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})}
            )
            response = conn.getresponse()
            status, payload = response.status, response.read()
        except OSError:
            status, payload = 0, b""
        finally:
            conn.close()
        with self.lock:
            self.codes[(op, status)] += 1
            if status >= 400 and op not in self.first_refusals and not (op == "decide" and status == 409):
                self.first_refusals[op] = f"{status} {payload[:300]!r}"
            self.latencies[op].append(time.perf_counter() - started)
        return status, payload

    def bearer(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def upsert(self, rng: random.Random) -> None:
        ids = sorted({f"L{rng.randrange(2000)}" for _ in range(20)})
        rows = [
            {
                "source": "hubspot",
                "external_id": i,
                "first_name": "Sam",
                "last_name": i,
                "title": rng.choice(["CTO", "VP"]),
            }
            for i in ids
        ]
        status, _ = self.send(
            "upsert", "POST", "/api/v1/leads/bulk/", {"leads": rows}, self.bearer(self.world.writer_key)
        )
        if status == 200:
            with self.lock:
                self.leads.extend(i for i in ids if i not in self.leads[-4000:])

    def propose(self, rng: random.Random) -> None:
        with self.lock:
            if not self.leads:
                return
            lead = rng.choice(self.leads)
            # bool(): ``self.keys and …`` would be the (empty) dict itself, which another thread can
            # fill before the answer comes back, turning this fresh proposal into a "repeat".
            repeat = bool(self.keys) and rng.random() < 0.1
            key = rng.choice(list(self.keys)) if repeat else f"soak:{secrets.token_hex(8)}"
        body = {
            "kind": "enrol_cadence",
            "payload": {"cadence": "Soak", "steps": 1},
            "rationale": "Soak traffic.",
            "confidence": 0.7,
            "idempotency_key": key,
            "lead": {"source": "hubspot", "external_id": lead},
        }
        if repeat:  # the same content as the first time, or the key is refused for other content
            body["lead"] = self._first_lead.get(key, body["lead"])
        status, payload = self.send(
            "propose", "POST", "/api/v1/actions/", body, self.bearer(self.world.submitter_key)
        )
        if status not in (200, 201):
            return
        answer = json.loads(payload)
        with self.lock:
            if repeat:
                if self.keys.get(key) == answer["id"]:
                    self.repeats_same += 1
                else:
                    self.repeats_other += 1
                    self.repeats_other_seen.append((key, self.keys.get(key, 0), status, answer["id"]))
                return
            self.keys[key] = answer["id"]
            self._first_lead[key] = body["lead"]
            if answer["status"] == "pending_approval":
                self.pending.append((answer["id"], answer["payload_sha256"]))

    def decide(self, rng: random.Random) -> None:
        with self.lock:
            if not self.pending:
                return
            action_id, seen = self.pending.pop(rng.randrange(len(self.pending)))
        approve = rng.random() < 0.8
        path = f"/api/v1/actions/{action_id}/{'approve' if approve else 'reject'}/"
        # The decider approves the payload the proposal's answer showed (nobody edits in the soak).
        body = {"payload_sha256": seen} if approve else {"reason_code": "bad_timing"}
        status, _ = self.send("decide", "POST", path, body, self.bearer(self.world.decider_key))
        if status == 200:
            with self.lock:
                (self.approved if approve else self.rejected).add(action_id)

    def webhook(self, rng: random.Random) -> None:
        from connectors import signatures

        with self.lock:
            repeat = bool(self.events) and rng.random() < 0.2
            event = rng.choice(self.events) if repeat else None
        if event is None:
            ticket = f"T{rng.randrange(500)}"
            now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
            event = {
                "id": f"evt-{secrets.token_hex(8)}",
                "type": "zen:event-type:ticket.status_changed",
                "detail": {
                    "id": ticket, "subject": f"Soak {ticket}", "description": "It broke again.",
                    "status": rng.choice(["new", "open", "pending"]), "priority": "normal",
                    "created_at": "2026-01-01T00:00:00Z", "updated_at": now,
                },
            }  # fmt: skip
        body = json.dumps(event).encode()
        stamp = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        headers = signatures.zendesk_headers(secret=ZENDESK_SECRET, body=body, timestamp=stamp)
        status, _ = self.send("webhook", "POST", f"/webhooks/zendesk/{self.world.connection}/", body, headers)
        if status in (200, 202, 204) and not repeat:
            with self.lock:
                self.events.append(event)
                self.tickets.add(event["detail"]["id"])

    def page(self, rng: random.Random) -> None:
        path = rng.choice(["/approvals/", "/leads/", "/metrics"])
        headers = {"Cookie": self.world.session_cookie}
        if path == "/metrics":  # the stack runs with DEBUG off, so /metrics needs its token
            headers["Authorization"] = f"Bearer {os.environ['METRICS_TOKEN']}"
        self.send("page", "GET", path, headers=headers)


def client(traffic: Traffic, until: float, seed: int) -> None:
    rng = random.Random(seed)
    ops = [op for op, weight in WEIGHTS.items() for _ in range(weight)]
    while time.monotonic() < until:
        getattr(traffic, rng.choice(ops))(rng)


# --- The run --------------------------------------------------------------------------------------


def drill_hold_and_kill(
    cluster_env: dict[str, str], cluster: subprocess.Popen, log: Path, hold: Path
) -> tuple[subprocess.Popen, dict]:
    """Hold a drill task running in the cluster, kill the cluster's process group with SIGKILL, start
    a new one. Returns the new cluster and what was seen."""
    from django_q.tasks import async_task

    from taskruns.models import TaskRun

    hold.touch()
    async_task("tests.taskruns.ledger_tasks.effect_after_hold_task", "soak-drill", str(hold))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if TaskRun.objects.filter(func__endswith="effect_after_hold_task", status="running").exists():
            break
        time.sleep(0.2)
    running = TaskRun.objects.filter(func__endswith="effect_after_hold_task", status="running").exists()
    killed_pids = group_members(cluster.pid)
    kill_group(cluster, signal.SIGKILL)
    hold.unlink(missing_ok=True)
    restarted = start_cluster(cluster_env, log)
    return restarted, {"drill_running_at_kill": running, "killed_processes": len(killed_pids)}


def drain(*, timeout: float) -> dict:
    """Let the queued work finish: a last cadence tick, the reaper until no run is open, the sealer."""
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    from taskruns.ledger import task_runs_reap
    from taskruns.models import TaskRun

    broker = get_broker()
    async_task("sales.tasks.cadences_tick_task", task_name="soak: last cadence tick")
    async_task("connectors.tasks.inbound_sweep_task", task_name="soak: last inbound sweep")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        task_runs_reap()  # what the every-minute schedule does, sooner
        open_runs = TaskRun.objects.filter(status__in=["running", "retrying"]).count()
        if open_runs == 0 and (broker.queue_size() or 0) == 0:
            break
        time.sleep(2)
    time.sleep(2)
    # A tick carries out at most 1,000 approved enrolments; at the soak's rate the approvals outrun
    # the every-few-minutes schedule, so tick until that backlog is settled (or the time is up).
    from approvals.models import ProposedAction

    def backlog() -> int:
        return ProposedAction.objects.filter(kind="enrol_cadence", status="approved").count()

    while backlog() and time.monotonic() - started < timeout:
        async_task("sales.tasks.cadences_tick_task", task_name="soak: last cadence tick")
        time.sleep(3)
        while (broker.queue_size() or 0) and time.monotonic() - started < timeout:
            time.sleep(1)
    time.sleep(3)
    while time.monotonic() - started < timeout:
        open_runs = TaskRun.objects.filter(status__in=["running", "retrying"]).count()
        if open_runs == 0 and (broker.queue_size() or 0) == 0:
            break
        task_runs_reap()
        time.sleep(1)
    return {
        "drain_seconds": round(time.monotonic() - started, 1),
        "open_task_runs": TaskRun.objects.filter(status__in=["running", "retrying"]).count(),
        "queue_left": broker.queue_size() or 0,
    }


def integrity(traffic: Traffic) -> tuple[dict[str, bool], dict]:
    from io import StringIO

    from django.core.management import call_command
    from django.db.models import Count

    from approvals.models import Decision, ProposedAction
    from audit.models import DecisionLogEntry
    from audit.services import audit_seal_pending
    from connectors.models import WebhookEvent
    from sales.models import Enrolment
    from support.models import Ticket
    from taskruns.models import TaskRun
    from tests.taskruns.ledger_tasks import effects

    keys = list(traffic.keys)
    by_key = Counter(
        ProposedAction.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    )
    ids = list(traffic.keys.values())
    decisions = Counter(
        dict(
            Decision.objects.filter(action_id__in=ids)
            .values("action_id")
            .annotate(n=Count("id"))
            .values_list("action_id", "n")
        )
    )
    statuses = dict(ProposedAction.objects.filter(pk__in=ids).values_list("pk", "status"))
    executed_entries = Counter(
        DecisionLogEntry.objects.filter(
            event_type="action.executed", subject_type="proposed_action", subject_id__in=[str(i) for i in ids]
        ).values_list("subject_id", flat=True)
    )
    enrolments = Counter(
        Enrolment.objects.filter(source_action_id__in=ids).values_list("source_action_id", flat=True)
    )
    approved = traffic.approved
    outcome = Counter(statuses[i] for i in approved)
    events = WebhookEvent.objects.filter(event_id__in=[e["id"] for e in traffic.events])
    event_counts = Counter(events.values_list("event_id", flat=True))
    event_states = Counter(events.values_list("status", flat=True))
    tickets = Counter(
        Ticket.objects.filter(external_id__in=traffic.tickets).values_list("external_id", flat=True)
    )
    drill = TaskRun.objects.filter(func__endswith="effect_after_hold_task").first()
    runs = Counter(TaskRun.objects.values_list("status", flat=True))
    retried = TaskRun.objects.filter(requeues__gt=0).count()
    audit_seal_pending()
    out = StringIO()
    try:
        call_command("verify_audit_log", stdout=out)
        audit_ok = True
    except Exception as exc:  # noqa: BLE001 - reported as the failed check
        out.write(str(exc))
        audit_ok = False
    checks = {
        "one action per idempotency key": len(by_key) == len(keys) and set(by_key.values()) <= {1},
        "a repeated key answered with the same action": traffic.repeats_other == 0,
        "at most one decision per action": set(decisions.values()) <= {1},
        "approved actions executed or accounted for (none lost)": set(outcome)
        <= {"executed", "failed", "cancelled"},
        "at most one execution per action": set(executed_entries.values()) <= {1}
        and set(enrolments.values()) <= {1},
        "every webhook event stored once and applied": len(event_counts) == len(traffic.events)
        and set(event_counts.values()) <= {1}
        and set(event_states) <= {"processed", "ignored_stale", "ignored"},
        "one ticket per webhook entity": len(tickets) == len(traffic.tickets)
        and set(tickets.values()) <= {1},
        "the killed drill task retried and its effect made exactly once": drill is not None
        and drill.status == "succeeded"
        and drill.attempts >= 2
        and effects("soak-drill") == 1,
        "no task run left running or retrying": runs.get("running", 0) + runs.get("retrying", 0) == 0,
        "verify_audit_log passes": audit_ok,
    }
    figures = {
        "actions": len(ids),
        "approved": len(approved),
        "rejected": len(traffic.rejected),
        "approved_outcomes": dict(outcome),
        "enrolments": sum(enrolments.values()),
        "repeated_keys": traffic.repeats_same,
        "repeats_answered_otherwise": [
            {
                "key": key,
                "first": first,
                "status": status,
                "answer": answer,
                "now": dict(
                    ProposedAction.objects.filter(pk__in=[first, answer]).values_list("pk", "status")
                ),
            }
            for key, first, status, answer in traffic.repeats_other_seen
        ],
        "webhook_events": len(traffic.events),
        "webhook_states": dict(event_states),
        "tickets": len(traffic.tickets),
        "drill": drill and {"status": drill.status, "attempts": drill.attempts, "requeues": drill.requeues},
        "task_runs": dict(runs),
        "task_runs_retried": retried,
        "audit": out.getvalue().strip().splitlines()[-1:] if out.getvalue().strip() else [],
    }
    return checks, figures


def soak(minutes: float, *, smoke: bool = False, threads: int = 4) -> dict:
    """Run the soak for ``minutes`` on a fresh ``h8_soak`` database; returns the result (``ok``)."""
    duration = minutes * 60
    port = free_port()
    url = database_url(DATABASE)
    fresh_database(url)
    flush_redis(REDIS_URL)
    os.environ.update({"Q_CLUSTERS": "0", "Q_TIMEOUT": str(TASK_TIMEOUT), "Q_WORKERS": "2"})
    stack = Stack(port=port, database_url=url, redis_url=REDIS_URL, log_path=ROOT / "var" / "soak-stack.log")
    log = ROOT / "var" / "soak-qcluster.log"
    hold = ROOT / "var" / "soak-drill.hold"
    print(f"[soak] starting the stack on port {port} (database {DATABASE}, Redis db 8)", flush=True)
    stack.start(timeout=480)  # a busy machine can take minutes to migrate and boot
    cluster: subprocess.Popen | None = None
    sampler: MemorySampler | None = None
    try:
        django_setup(database_url=url, redis_url=REDIS_URL, secret_key=stack.secret_key)
        from _stack import stack_environment

        cluster_env = {
            **os.environ,
            **stack_environment(database_url=url, redis_url=REDIS_URL, secret_key=stack.secret_key),
            "PYTHONPATH": str(ROOT),
        }
        cluster_env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
        cluster_env.pop("DJANGO_SETTINGS_MODULE", None)
        log.write_bytes(b"")
        cluster = start_cluster(cluster_env, log)
        world = seed()
        traffic = Traffic(world=world, port=port)
        sampler = MemorySampler(groups=[stack.process.pid, cluster.pid], every=2.0 if smoke else 10.0)
        threading.Thread(target=sampler.run, daemon=True).start()

        print(f"[soak] {minutes:g} min of mixed traffic, {threads} client threads", flush=True)
        began = time.monotonic()
        until = began + duration
        pool = [threading.Thread(target=client, args=(traffic, until, n)) for n in range(threads)]
        for thread in pool:
            thread.start()
        time.sleep(max(0.0, duration / 2 - (time.monotonic() - began)))
        cluster, kill = drill_hold_and_kill(cluster_env, cluster, log, hold)
        sampler.groups.append(cluster.pid)
        print(
            f"[soak] killed the task cluster with SIGKILL at {time.monotonic() - began:.0f} s and started a new one {kill}",
            flush=True,
        )
        for thread in pool:
            thread.join()
        drained = drain(timeout=300)
        sampler.stop.set()
        memory, stable = sampler.report(warm_up=duration * 0.25, duration=duration)
        checks, figures = integrity(traffic)
    finally:
        if sampler is not None:
            sampler.stop.set()
        if cluster is not None:
            kill_group(cluster, signal.SIGTERM)
        left = stack.stop()
    if not smoke:  # half a minute says nothing about memory growth
        checks["memory of each process stable (growth after warm-up < 20%)"] = stable
    requests = sum(traffic.codes.values())
    errors = {f"{op} {code}": n for (op, code), n in traffic.codes.items() if code >= 500 or code == 0}
    checks["no 5xx or dropped request"] = not errors
    checks["the stack stopped with no process left"] = not left
    latency = {
        op: round(sorted(v)[int(0.95 * (len(v) - 1))] * 1000, 1) for op, v in traffic.latencies.items() if v
    }
    result = {
        "minutes": minutes,
        "machine": MACHINE,
        "requests": requests,
        "requests_per_s": round(requests / duration, 1),
        "answers": {f"{op} {code}": n for (op, code), n in sorted(traffic.codes.items())},
        "p95_ms": latency,
        "errors": errors,
        "first_refusals": traffic.first_refusals,
        **kill,
        **drained,
        **figures,
        "memory": memory,
        "memory_stable": stable if not smoke else "not judged in a smoke run",
        "checks": checks,
        "ok": all(checks.values()),
    }
    return result


def smoke() -> dict:
    """About 30 s of traffic with the kill in the middle (the serve smoke test calls this)."""
    return soak(0.5, smoke=True, threads=2)


def print_result(result: dict) -> None:
    print(
        f"[soak] {result['requests']:,} requests ({result['requests_per_s']}/s) over {result['minutes']:g} min; "
        f"p95 ms {result['p95_ms']}; answers {result['answers']}"
    )
    print(
        f"[soak] actions {result['actions']}, approved {result['approved']} -> {result['approved_outcomes']}, "
        f"webhook events {result['webhook_events']} {result['webhook_states']}, drill {result['drill']}, "
        f"task runs {result['task_runs']} ({result['task_runs_retried']} retried), drained in {result['drain_seconds']} s"
    )
    for row in result["memory"]:
        print(
            f"[soak]   {row['process']:<9} pid {row['pid']:>7}: first {row['first_mb']} MB, after warm-up "
            f"{row['warm_mb']}, last {row['last_mb']}, max {row['max_mb']} (x{row['growth']}) {row['verdict']}"
        )
    for label, holds in result["checks"].items():
        print(f"[soak]   {'ok ' if holds else 'FAILED'} {label}")
    print(
        "RESULT soak " + json.dumps({k: v for k, v in result.items() if k != "memory"}, default=str),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the traffic (default 10)")
    parser.add_argument("--smoke", action="store_true", help="about 30 s (the smoke test)")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    args = parser.parse_args()
    result = smoke() if args.smoke else soak(args.minutes, threads=args.threads)
    print_result(result)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
