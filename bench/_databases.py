"""The databases a benchmark runs on: a fresh SQLite file under var/ and a fresh PostgreSQL database."""

from __future__ import annotations

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
