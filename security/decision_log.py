"""Security's state changes (API keys issued, rotated, revoked) go to the decision log, which lives
above security: audit imports security (its export view is scoped by role), so security cannot
import audit.

Audit registers its writer here in ``AuditConfig.ready()`` (``decision_log_writer_register``), and
a security service calls ``security_event_record`` inside the transaction of the change it
records: the call is synchronous, so the entry is written, and rolled back, with the change. With
no writer registered the call raises, and the change rolls back with it rather than commit
unrecorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

#: ``writer(event_type=…, actor=…, subject_type=…, subject_id=…, action_taken=…)`` appends one entry
#: (``audit.services.decision_log_append``).
Writer = Callable[..., object]

_WRITERS: dict[str, Writer] = {}


def decision_log_writer_register(writer: Writer) -> None:
    """Record security's events with ``writer``. One decision log: registering again replaces it
    (``ready()`` may run more than once)."""
    _WRITERS["decision_log"] = writer


def security_event_record(
    *, event_type: str, actor: str, subject_type: str, subject_id: str | int, action_taken: Mapping[str, Any]
) -> None:
    """Append one entry to the decision log; call it inside the transaction of the change it records."""
    try:
        writer = _WRITERS["decision_log"]
    except KeyError:
        raise ImproperlyConfigured(
            "Security events need the decision log's writer (security.decision_log.decision_log_writer_register)."
        ) from None
    writer(
        event_type=event_type,
        actor=actor,
        subject_type=subject_type,
        subject_id=subject_id,
        action_taken=action_taken,
    )
