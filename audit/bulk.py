"""Appending many decision-log entries at once (a playbook run proposes thousands of actions).

Kept apart from ``audit.services`` so batch writers do not depend on its internals: each entry is
built and redacted exactly as ``decision_log_append`` does, then all are inserted in one statement.
Like every entry, they are sealed into the hash chain by the sealer after they commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from audit.models import DecisionLogEntry
from audit.redaction import redact_context
from audit.services import seal_soon
from core.bulk import insert_many


@dataclass(frozen=True)
class LogEntry:
    """The arguments of one ``decision_log_append`` call."""

    event_type: str
    actor: str
    subject_type: str = ""
    subject_id: str | int = ""
    input_context: Mapping[str, Any] = field(default_factory=dict)
    model_version: str = ""
    prediction: Mapping[str, Any] = field(default_factory=dict)
    action_taken: Mapping[str, Any] = field(default_factory=dict)
    approval: Mapping[str, Any] = field(default_factory=dict)
    correlation_id: uuid.UUID | None = None
    outcome: Mapping[str, Any] = field(default_factory=dict)


def decision_log_append_many(*, entries: Sequence[LogEntry]) -> int:
    """Append entries to the decision log in one statement; call it inside the transaction of the
    changes they record. Returns how many were written."""
    written = insert_many(
        DecisionLogEntry,
        [
            DecisionLogEntry(
                event_type=e.event_type,
                actor=e.actor,
                subject_type=e.subject_type,
                subject_id=str(e.subject_id),
                input_context=redact_context(e.input_context or {}),
                model_version=e.model_version,
                prediction=dict(e.prediction),
                action_taken=dict(e.action_taken),
                approval=dict(e.approval),
                outcome=dict(e.outcome),
                correlation_id=e.correlation_id,
                environment=settings.ENVIRONMENT,
            )
            for e in entries
        ],
    )
    if written and settings.AUDIT_SEAL_ON_COMMIT:
        # Sealing finds these rows without this (the schedule reads the table); this only brings it sooner.
        transaction.on_commit(seal_soon)
    return written
