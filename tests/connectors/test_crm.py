"""The CRM connectors' shared mapping of HTTP answers and transport failures to ConnectorError."""

from __future__ import annotations

import pytest

from connectors.base import ConnectorError
from connectors.crm import (
    connection_error,
    error_for_status,
    none_if_not_found,
    retry_after_from,
    timeout_error,
)


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (400, "invalid", False),
        (401, "unauthorised", False),
        (403, "unauthorised", False),
        (404, "not_found", False),
        (408, "timeout", True),
        (409, "conflict", False),
        (422, "invalid", False),
        (429, "rate_limited", True),
        (500, "server_error", True),
        (503, "server_error", True),
        (418, "invalid", False),
    ],
)
def test_it_maps_each_status_to_a_code_and_says_whether_a_retry_may_help(status, code, retryable):
    error = error_for_status(status, "boom", {"Retry-After": "3"})

    assert (error.status, error.code, error.retryable) == (status, code, retryable)
    assert error.retry_after == (3.0 if retryable else None)
    assert str(error) == f"{status}: boom"


def test_a_vendor_code_overrides_the_status():
    error = error_for_status(403, "REQUEST_LIMIT_EXCEEDED", code="rate_limited")

    assert (error.code, error.retryable, error.retry_after) == ("rate_limited", True, None)


def test_it_reads_retry_after_as_seconds_or_an_http_date():
    assert retry_after_from({"retry-after": "2.5"}) == 2.5
    assert retry_after_from({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480) == 10.0
    assert retry_after_from({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412490) == 0.0
    assert retry_after_from({"Retry-After": "soon"}) is None
    assert retry_after_from({}) is None


def test_transport_failures_are_retryable_with_their_own_codes():
    assert (timeout_error(TimeoutError("t")).code, timeout_error(TimeoutError("t")).retryable) == (
        "timeout",
        True,
    )
    assert (connection_error(OSError("c")).code, connection_error(OSError("c")).retryable) == (
        "connection",
        True,
    )


def test_none_if_not_found_turns_only_a_miss_into_none():
    def missing():
        raise error_for_status(404, "gone")

    def refused():
        raise error_for_status(401, "no")

    assert none_if_not_found(missing) is None
    assert none_if_not_found(lambda: 7) == 7
    with pytest.raises(ConnectorError, match="401"):
        none_if_not_found(refused)
