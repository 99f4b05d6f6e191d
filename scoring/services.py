from __future__ import annotations

from django.db import transaction

from audit.choices import EventType
from audit.services import decision_log_append
from scoring.choices import ModelStatus
from scoring.models import ModelVersion
from scoring.states import MODEL_STATES


def model_version_transition(
    *, version_id: int, to: ModelStatus | str, actor: str, reason: str
) -> ModelVersion:
    """Change a model version's status through the state machine, recording who and why.

    Making a version champion retires the current champion of the same kind in the same
    transaction (rows locked in id order), so there is never a moment with two champions.
    """
    if not reason.strip():
        raise ValueError("reason: a reason is required for every model status change.")
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version_id)
        MODEL_STATES.check(version.status, str(to))
        previous = version.status
        retired: list[ModelVersion] = []
        if to == ModelStatus.CHAMPION:
            retired = list(
                ModelVersion.objects.select_for_update()
                .filter(kind=version.kind, status=ModelStatus.CHAMPION)
                .exclude(pk=version.pk)
                .order_by("pk")
            )
            for old in retired:
                old.status = ModelStatus.RETIRED
                old._change_reason = f"replaced by {version.label}: {reason}"  # type: ignore[attr-defined]
                old.save(update_fields=["status", "updated_at"])
        version.status = str(to)
        version._change_reason = reason  # type: ignore[attr-defined]
        version.save(update_fields=["status", "updated_at"])
        decision_log_append(
            event_type=EventType.MODEL_TRANSITIONED,
            actor=actor,
            subject_type="model_version",
            subject_id=version.pk,
            model_version=version.label,
            action_taken={
                "from": previous,
                "to": version.status,
                "reason": reason,
                "retired": [old.label for old in retired],
            },
        )
    return version
