"""The production-shaped stack for the end-to-end benchmarks: ``scripts/serve.sh`` (gunicorn with two
workers, django-q2 on Redis, PostgreSQL) started on a port of its own, and a load generator.

A benchmark seeds its data through Django in its own process, configured with the same database,
Redis and secret key as the stack (``django_setup``), then sends its requests over HTTP on
127.0.0.1 from client processes (``send_all``). Latencies are measured by the client: from writing
the request to reading the whole answer, a new connection each time (gunicorn's sync workers close
it after every answer anyway).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import multiprocessing
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/4"
#: The ports the benchmarks and their smoke test may use.
PORTS = range(8141, 8150)
#: Machine the figures in docs/benchmarks.md were measured on.
MACHINE = "2 vCPU AMD EPYC, 24 GB, Python 3.11.7, PostgreSQL 15, Redis 7"


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def free_port() -> int:
    """The first port of ``PORTS`` nobody listens on."""
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def fresh_database(url: str) -> None:
    """Drop (closing its connections) and recreate the PostgreSQL database of ``url``."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis(url: str) -> None:
    """Empty the Redis database of ``url`` (queued tasks and cache of an earlier run)."""
    import redis

    redis.Redis.from_url(url).flushdb()


def _stack_secret(secret_key: str, label: str) -> bytes:
    # The stack's other secrets follow from its secret key, so the benchmark process and the stack
    # it talks to agree on them (a DEBUG=false process derives none itself: agentops/settings.py).
    return hashlib.sha256(f"bench-stack:{label}:{secret_key}".encode()).digest()


def stack_environment(*, database_url: str, redis_url: str, secret_key: str) -> dict[str, str]:
    """What ``scripts/serve.sh`` and the benchmark process both run with (the same database, broker,
    cache and secrets, so a session made here is valid there and both read what the other encrypted)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secret_key,
        "DEBUG": "false",
        "ENVIRONMENT": "local-production",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "LOG_FORMAT": "json",
        "AGENTOPS_ENCRYPTION_KEYS": base64.urlsafe_b64encode(
            _stack_secret(secret_key, "encryption")
        ).decode(),
        "AGENTOPS_BLIND_INDEX_KEY": _stack_secret(secret_key, "blind-index").hex(),
        "AGENTOPS_AUDIT_REDACTION_KEY": _stack_secret(secret_key, "audit-redaction").hex(),
        "METRICS_TOKEN": _stack_secret(secret_key, "metrics").hex(),
        "AGENTOPS_CALLBACKS": "false",  # the benchmarks poll
    }


def django_setup(*, database_url: str, redis_url: str, secret_key: str) -> None:
    """Configure Django in this process for the stack's database and Redis (call once, first)."""
    os.environ.update(
        stack_environment(database_url=database_url, redis_url=redis_url, secret_key=secret_key)
    )
    # The in-process test client (query counts) calls itself "testserver".
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ.pop("DB_POOL_MAX_SIZE", None)
    os.environ.pop("CONN_MAX_AGE", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "agentops.settings"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@dataclass
class Stack:
    """One ``scripts/serve.sh`` in a process group of its own."""

    port: int
    database_url: str
    redis_url: str = DEFAULT_REDIS_URL
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    log_path: Path = field(default_factory=lambda: ROOT / "var" / "bench-stack.log")
    process: subprocess.Popen[bytes] | None = None
    _groups: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 180.0) -> None:
        """Start the stack (it creates the database if missing and migrates it) and wait until
        ``/readyz`` answers 200: the web workers serve, the database and the broker answer."""
        env = {
            **os.environ,
            **stack_environment(
                database_url=self.database_url, redis_url=self.redis_url, secret_key=self.secret_key
            ),
        }
        for name in ("ALLOWED_HOSTS", "DB_POOL_MAX_SIZE", "CONN_MAX_AGE", "DJANGO_SETTINGS_MODULE"):
            env.pop(name, None)
        self.log_path.parent.mkdir(exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                ["/bin/bash", str(ROOT / "scripts" / "serve.sh"), "127.0.0.1", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the stack exited with {self.process.returncode}: {self._log_tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:  # noqa: S310 - 127.0.0.1
                    if answer.status == 200:
                        return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the stack was not ready within {timeout:.0f} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def _table(self) -> list[tuple[int, int, int]]:
        """(pid, parent pid, process group) of every live process (zombies left out)."""
        rows = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                # After the name (which may hold spaces): state, parent pid, process group.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z":
                    rows.append((int(entry.name), int(fields[1]), int(fields[2])))
        return rows

    def processes(self) -> list[int]:
        """Ids of the stack's live processes: the script's process group and those of the processes
        it started (serve.sh runs each in a group of its own), remembered while they run, so a
        worker orphaned by its parent still counts."""
        if self.process is None:
            return []
        table = self._table()
        # Only children leading a group of their own (not the set-up commands, in the script's group).
        self._groups.update(
            pid for pid, parent, group in table if parent == self.process.pid and group == pid
        )
        groups = {self.process.pid, *self._groups}
        return sorted(pid for pid, _, group in table if group in groups)

    def stop(self, *, timeout: float = 40.0) -> list[int]:
        """SIGTERM to the script (it stops its web and task processes and waits for them); returns the
        stack's processes still alive afterwards (none, when it shut down cleanly)."""
        if self.process is None:
            return []
        self.processes()  # remember the process groups of what it started
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 5
        left = self.processes()
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = self.processes()
        if left or self.process.poll() is None:
            # Clean up for the next run, but report what had to be killed.
            for group in {self.process.pid, *self._groups}:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
        return left


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    """The stack started for the block and stopped after it; raises if a process outlived it."""
    stack.start()
    try:
        yield stack
    finally:
        left = stack.stop()
        if left:
            raise RuntimeError(f"processes left after the stack stopped: {left}")


# --- Load generation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP request to send; ``tag`` lets the benchmark match the answer to what it meant."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    tag: str = ""


@dataclass(frozen=True)
class Answer:
    tag: str
    status: int
    seconds: float
    body: bytes
    sent_at: float


def _send(port: int, call: Call) -> Answer:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(call.method, call.path, body=call.body or None, headers=call.headers)
        response = connection.getresponse()
        body = response.read()
        status = response.status
    except OSError as exc:
        status, body = 0, str(exc).encode()
    finally:
        connection.close()
    return Answer(call.tag, status, time.perf_counter() - started, body, started)


def _client(port: int, calls: Sequence[Call], threads: int, start_at: float) -> list[Answer]:
    """One client process: ``threads`` threads sending ``calls`` in turn from ``start_at``."""
    time.sleep(max(0.0, start_at - time.time()))
    answers: list[Answer] = []
    lock = threading.Lock()
    queue = iter(calls)

    def work() -> None:
        while True:
            with lock:
                call = next(queue, None)
            if call is None:
                return
            answer = _send(port, call)
            # Only the start of each answer travels back to the benchmark (enough for error codes).
            answer = Answer(answer.tag, answer.status, answer.seconds, answer.body[:300], answer.sent_at)
            with lock:
                answers.append(answer)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return answers


def send_all(
    port: int, shares: Sequence[Sequence[Call]], *, threads: int = 4
) -> tuple[list[Answer], float, float]:
    """Send each share from a client process of its own (``threads`` requests in flight each), all
    starting together. Returns the answers, and the ``time.perf_counter()`` moments the first request
    went out and the last answer came in (the clock is system-wide, so comparable with this process's)."""
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 1.5  # the spawned clients import little; they all start at this moment
    with context.Pool(len(shares)) as pool:
        pending = [pool.apply_async(_client, (port, list(share), threads, start_at)) for share in shares]
        answers = [a for p in pending for a in p.get()]
    if not answers:
        return [], 0.0, 0.0
    return answers, min(a.sent_at for a in answers), max(a.sent_at + a.seconds for a in answers)


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, round(share * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def ratio(measured: float, target: float, *, lower_is_better: bool = False) -> str:
    """``measured`` against ``target`` as "1.23× target (MET)"; for latencies the ratio is target/measured."""
    if measured <= 0:
        return "n/a"
    value = target / measured if lower_is_better else measured / target
    return f"{value:.2f}× target ({'MET' if value >= 1 else 'MISSED'})"


# --- A benchmark's main -------------------------------------------------------------------------


def stack_arguments(description: str) -> argparse.ArgumentParser:
    """The options every stack benchmark takes; it adds its own sizes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (the smoke test)")
    parser.add_argument(
        "--port",
        type=int,
        help="use the stack already serving on this port (with --database-url, --redis-url and the "
        "BENCH_STACK_SECRET_KEY environment variable) instead of starting one",
    )
    parser.add_argument("--database-url", help="the running stack's DATABASE_URL (with --port)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="the running stack's REDIS_URL")
    return parser


def stack_main(
    *, slug: str, args: argparse.Namespace, run: Callable[[argparse.Namespace, int], bool]
) -> None:
    """Run ``run(args, port)`` against the stack given by ``--port``, or against a stack started for
    it on a fresh database ``h4_bench_<slug>``; exits 1 when the benchmark's checks fail."""
    # SIGTERM unwinds like Ctrl-C, so a stack started here is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.port:
        if not args.database_url or "BENCH_STACK_SECRET_KEY" not in os.environ:
            raise SystemExit("--port needs --database-url and BENCH_STACK_SECRET_KEY in the environment")
        django_setup(
            database_url=args.database_url,
            redis_url=args.redis_url,
            secret_key=os.environ["BENCH_STACK_SECRET_KEY"],
        )
        ok = run(args, args.port)
    else:
        stack = Stack(
            port=free_port(), database_url=database_url(f"h4_bench_{slug}"), redis_url=args.redis_url
        )
        fresh_database(stack.database_url)
        flush_redis(stack.redis_url)
        print(f"[{slug}] starting the stack on port {stack.port} (database h4_bench_{slug})", flush=True)
        with running(stack):
            django_setup(
                database_url=stack.database_url, redis_url=stack.redis_url, secret_key=stack.secret_key
            )
            ok = run(args, stack.port)
        print(f"[{slug}] the stack stopped; no process left", flush=True)
    sys.exit(0 if ok else 1)
