"""The logs never carry an email address or a phone number in clear, whatever code logs."""

from __future__ import annotations

import io
import json
import logging
import logging.config

from django.conf import settings

from audit.logs import redact_text
from audit.redaction import hash_value


def _configured_logger(stream: io.StringIO) -> logging.Logger:
    """A logger behind the console handler as settings.LOGGING configures it, in JSON, into ``stream``."""
    config = {
        **settings.LOGGING,
        "handlers": {
            "console": {
                **settings.LOGGING["handlers"]["console"],
                "formatter": "json",
                "stream": stream,
            }
        },
        "root": {},
        "loggers": {"agentops.pii-test": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }
    logging.config.dictConfig(config)
    return logging.getLogger("agentops.pii-test")


def test_it_hashes_emails_and_phones_in_messages_extras_and_tracebacks():
    stream = io.StringIO()
    logger = _configured_logger(stream)
    try:
        logger.info("sent to %s and %s", "Ada@Example.com", "+44 20 7946 0123", extra={"lead_id": 7})
        logger.info("upserted", extra={"email": "bob@example.com", "detail": {"to": "555-123-4567"}})
        try:
            raise ValueError("'carol@example.com' is not a valid email address")
        except ValueError:
            logger.exception("row rejected")
    finally:
        logging.config.dictConfig(settings.LOGGING)

    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    for secret in ("Ada@Example.com", "7946", "bob@example.com", "555-123", "carol@example.com"):
        assert secret not in output
    assert (
        lines[0]["message"] == f"sent to {hash_value('ada@example.com')} and {hash_value('+44 20 7946 0123')}"
    )
    assert lines[0]["lead_id"] == 7  # other extras untouched
    assert lines[1]["email"] == hash_value("bob@example.com")
    assert lines[1]["detail"] == {"to": hash_value("555-123-4567")}
    assert hash_value("carol@example.com") in lines[2]["exc"] and "ValueError" in lines[2]["exc"]


def test_it_leaves_ids_counts_times_and_dates_alone():
    text = "lead 12345678 re-encrypted 10000 rows at 2026-11-27 17:45:00 in 1.234 s (batch 500)"
    assert redact_text(text) == text
