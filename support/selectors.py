"""Reads for the support pages (HackSoft-style selectors)."""

from __future__ import annotations

from scoring.choices import ModelKind, ModelStatus
from scoring.models import ModelVersion
from support.models import IntentPolicy


def intent_champion_holdout() -> ModelVersion | None:
    """The champion intent model with its stored hold-out predictions, without its artifact."""
    return (
        ModelVersion.objects.filter(kind=ModelKind.INTENT, status=ModelStatus.CHAMPION)
        .only("id", "kind", "name", "version", "status", "reference", "preprocessing", "metrics")
        .first()
    )


def intent_policies() -> list[IntentPolicy]:
    return list(IntentPolicy.objects.order_by("intent"))
