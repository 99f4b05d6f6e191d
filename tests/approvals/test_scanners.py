"""The scanners registry: every outbound message is read by each registered scanner when proposed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals import scanners
from approvals.scanners import Scanner, outbound_flags
from sales.models import CompliancePattern

pytestmark = pytest.mark.django_db


def _unicorns():
    def scan(*, subject: str, body: str, channel: str) -> list[str]:
        return ["unicorn"] if "unicorn" in f"{subject} {body}".lower() else []

    return scan


def test_each_scanner_reads_every_outbound_message_and_the_flags_are_merged(monkeypatch):
    monkeypatch.setitem(scanners._SCANNERS, "unicorns", Scanner("unicorns", _unicorns))
    CompliancePattern.objects.create(flag="pricing", regex=r"\bdiscount\b", is_active=True)

    flags = outbound_flags(
        [
            ("send_email", {"subject": "A discount", "body": "for unicorns"}),
            ("post_public_reply", {"body": "Unicorn pricing: a discount"}),
            ("create_task", {"subject": "discount for unicorns"}),
        ]
    )

    # The compliance patterns' scan also flags an email without an unsubscribe line.
    assert {"pricing", "unicorn"} <= set(flags[0]) and flags[0] == sorted(flags[0])
    assert "unicorn" in flags[1] and "pricing" in flags[1]
    assert flags[2] == []  # not a message anyone outside receives


def test_a_batch_without_messages_reads_no_patterns():
    with CaptureQueriesContext(connection) as captured:
        assert outbound_flags([("create_task", {"subject": "s"}), ("enrol_cadence", {})]) == [[], []]
    assert len(captured) == 0
