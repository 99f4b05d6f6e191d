"""Twilio's message rules, read without Django (connectors.twilio.messages), and E.164 numbers."""

from __future__ import annotations

import pytest

from connectors.sms import e164
from connectors.twilio.messages import (
    HELP,
    OPT_IN,
    OPT_OUT,
    REPLY,
    Receipt,
    inbound_kind,
    receipt_of,
    status_rank,
)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("STOP", OPT_OUT),
        ("stop.", OPT_OUT),
        ("  Cancel!  ", OPT_OUT),
        ("end", OPT_OUT),
        ("StopAll", OPT_OUT),
        ("START", OPT_IN),
        ("unstop", OPT_IN),
        ("help", HELP),
        ("Please stop texting me", REPLY),  # a person reads it: it is the lead's reply, not a keyword
        ("Yes, call me", REPLY),
        ("", REPLY),
    ],
)
def test_it_reads_a_carrier_keyword_only_as_the_whole_body(body, kind):
    assert inbound_kind(body) == kind


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+1 (415) 555-0100", "+14155550100"),
        ("0049 30 123456", "+4930123456"),
        ("+44.20.7946.0958", "+442079460958"),
        ("415 555 0100", ""),  # no country code: not a number we can match
        ("+0123456789", ""),
        ("", ""),
    ],
)
def test_it_writes_numbers_in_e164(number, expected):
    assert e164(number) == expected


def test_a_failure_saying_the_number_takes_no_texts_is_a_bounce():
    assert "does not exist" in Receipt("SM1", "undelivered", "30005").bounce_reason
    assert Receipt("SM1", "failed", "30003").bounce_reason == ""  # a handset switched off may come back
    assert Receipt("SM1", "delivered", "30005").bounce_reason == ""
    assert Receipt("SM1", "failed", "21610").opted_out


def test_a_callback_is_read_from_twilios_fields_and_late_statuses_rank_lower():
    receipt = receipt_of(
        {"MessageSid": "SM1", "MessageStatus": "Undelivered", "ErrorCode": "30006", "To": "+1"}
    )
    assert receipt == Receipt("SM1", "undelivered", "30006", "+1") and receipt.final
    assert receipt_of({"MessageStatus": "sent"}) is None
    assert status_rank("queued") < status_rank("sent") < status_rank("delivered") == status_rank("failed")
