"""Structured logs: JSON lines with the request's correlation id, echoed in the response."""

from __future__ import annotations

import json
import logging

import pytest
from django.urls import reverse

from audit.logs import CorrelationIdFilter, JsonFormatter, bind_correlation_id, correlation_id


def format_record(message, **extra):
    record = logging.makeLogRecord({"name": "agentops.test", "levelname": "INFO", "msg": message, **extra})
    CorrelationIdFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_a_record_is_one_json_object_with_the_bound_correlation_id():
    with bind_correlation_id("act-42"):
        line = format_record("executed %s", args=("send_email",), action_id=7)
    assert line["message"] == "executed send_email"
    assert (line["correlation_id"], line["action_id"], line["level"]) == ("act-42", 7, "INFO")
    assert correlation_id.get() == ""


def test_exceptions_are_included():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        line = format_record("failed", exc_info=sys.exc_info())
    assert "ValueError: boom" in line["exc"]


@pytest.mark.django_db
def test_requests_get_a_correlation_id_or_keep_a_sane_given_one(client):
    made = client.get(reverse("healthz"))["X-Correlation-ID"]
    assert len(made) == 32
    assert client.get(reverse("healthz"), HTTP_X_CORRELATION_ID="trace-1")["X-Correlation-ID"] == "trace-1"
    hostile = client.get(reverse("healthz"), HTTP_X_CORRELATION_ID="x\nFAKE LOG LINE")["X-Correlation-ID"]
    assert hostile != "x\nFAKE LOG LINE" and len(hostile) == 32
