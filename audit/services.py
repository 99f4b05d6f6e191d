from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from audit.models import DecisionLogEntry
from audit.redaction import redact_context


def decision_log_append(
    *,
    event_type: str,
    actor: str,
    subject_type: str = "",
    subject_id: str | int = "",
    input_context: Mapping[str, Any] | None = None,
    model_version: str = "",
    prediction: Mapping[str, Any] | None = None,
    action_taken: Mapping[str, Any] | None = None,
    approval: Mapping[str, Any] | None = None,
    outcome: Mapping[str, Any] | None = None,
    correlation_id: uuid.UUID | None = None,
    caused_by: DecisionLogEntry | None = None,
) -> DecisionLogEntry:
    """Append one entry to the decision log. Call it inside the transaction of the change it records."""
    return DecisionLogEntry.objects.create(
        event_type=event_type,
        actor=actor,
        subject_type=subject_type,
        subject_id=str(subject_id),
        input_context=redact_context(input_context or {}),
        model_version=model_version,
        prediction=dict(prediction or {}),
        action_taken=dict(action_taken or {}),
        approval=dict(approval or {}),
        outcome=dict(outcome or {}),
        correlation_id=correlation_id,
        environment=settings.ENVIRONMENT,
        caused_by=caused_by,
    )
