from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connection

from tests.browser.chromium import browser, new_page, screenshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# Playwright's fixtures, registered once here so that tests/browser and tests/e2e share one chromium
# (a second registration would start a second Playwright loop in the same thread, which fails).
__all__ = ["browser", "new_page", "screenshot"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``postgres`` need PostgreSQL features; on SQLite they are skipped, with the reason."""
    if connection.vendor == "postgresql":
        return
    reason = f"needs PostgreSQL (row locks/triggers); this run uses {connection.vendor}"
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session", autouse=True)
def _flush_past_append_only_triggers():
    """Let transactional tests' teardown flush the append-only decision log on PostgreSQL.

    The triggers reject TRUNCATE from everyone; a superuser session in replica mode skips
    ordinary triggers, which is how this test-only flush (and only it) gets through.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with self.connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            return original(self, sql_list)
        finally:
            with self.connection.cursor() as cursor:
                cursor.execute("RESET session_replication_role")

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Put the data migrations' rows back after every flush.

    A transactional test ends with a flush, which empties every table, the rows the data
    migrations seeded included (role groups, feature sets, field ownership, schedules…). Run in one
    process, pytest-django orders transactional tests last, so nothing after them needed those rows;
    spread over xdist workers (``make test``), a flushed worker goes on with other tests. So the
    seeded rows are read once when the test database is made and written back after each flush.
    """
    from django.db import connection

    with django_db_blocker.unblock():
        seeded = connection.creation.serialize_db_to_string()
    operations = type(connection.ops)
    original = operations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        original(self, sql_list)
        self.connection.creation.deserialize_db_from_string(seeded)

    operations.execute_sql_flush = execute_sql_flush
    yield
    operations.execute_sql_flush = original


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Users made by the tests get an MD5 hash instead of PBKDF2's million rounds (~0.2 s a user,
    more on a busy machine): the tests need a password, not a strong hash. Sign-in and its backoff
    still check the password through the same hasher machinery."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread_per_xdist_worker():
    """Under xdist each worker has a core of its own: numpy's OpenBLAS (the sentence encoder) and
    OpenMP pools of two threads per worker made the workers fight for the cores, encoding 2-3 times
    slower. One thread each, for the workers and the child processes they start."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    from threadpoolctl import threadpool_limits

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache (the approval queue's counts are cached between requests)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _no_kept_webhook_connections():
    """Each test starts with no connection kept by the webhook endpoint: a rolled-back test's
    connections vanish without the ``post_delete`` that would have made the process forget them."""
    from connectors.webhook_targets import webhook_targets_forget

    webhook_targets_forget()
    yield
    webhook_targets_forget()


@pytest.fixture(autouse=True)
def _no_seal_on_commit(settings):
    """Decision-log entries are not sealed on commit unless a test asks for it.

    Tests elsewhere count on-commit callbacks and queued tasks exactly; sealing has its own tests
    (tests/audit), which turn ``AUDIT_SEAL_ON_COMMIT`` back on.
    """
    settings.AUDIT_SEAL_ON_COMMIT = False
