"""The databases a benchmark runs on: a fresh SQLite file under var/ and a fresh PostgreSQL database."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def bench_databases(slug: str) -> dict[str, str]:
    """DATABASE_URL per database name for the benchmark ``slug`` (its own file and database)."""
    return {
        "sqlite": f"sqlite:///{ROOT / 'var' / f'bench-{slug}.sqlite3'}",
        "postgres": f"postgres://postgres@127.0.0.1:5432/agentops_bench_{slug}",
    }


def fresh_database(url: str) -> None:
    """Delete and recreate the database at ``url`` (a SQLite file with its WAL, or a PostgreSQL database)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def main_per_database(script: str, databases: dict[str, str], run: Callable[[str], None]) -> None:
    """A benchmark's ``main``: ``--database NAME`` or ``all`` (default); each database is recreated
    and measured in a process of its own, since settings are read once at start-up."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=[*databases, "all"], default="all")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        run(args.database)
        return
    for name in databases if args.database == "all" else [args.database]:
        fresh_database(databases[name])
        subprocess.run([sys.executable, script, "--database", name, "--inner"], check=True)
