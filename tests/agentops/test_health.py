import pytest
from django.db import DatabaseError
from django_q.brokers import get_broker
from django_q.brokers.redis_broker import Redis

# Redis database 15 is this file's: one xdist worker at a time.
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("redis-db-15")]

REDIS_URL = "redis://127.0.0.1:6379/15"


def test_healthz_answers_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database_and_the_orm_broker(client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


def test_readyz_reports_a_database_failure_as_not_ready(client, monkeypatch):
    from agentops import health

    class BrokenCursor:
        def __enter__(self):
            raise DatabaseError("connection refused")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(health.connection, "cursor", lambda: BrokenCursor())
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "connection refused" in response.json()["checks"]["database"]["error"]


def test_readyz_pings_a_real_redis_broker(client, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    monkeypatch.setattr(Conf, "ORM", None)
    assert isinstance(get_broker(), Redis)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()


def test_readyz_is_not_ready_when_redis_is_unreachable(client, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(Conf, "ORM", None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
