"""Reads for the support pages (HackSoft-style selectors)."""

from __future__ import annotations

from django.db.models import BooleanField, ExpressionWrapper, Q

from scoring.choices import ModelKind, ModelStatus
from scoring.models import ModelVersion
from support.models import IntentPolicy


def intent_version_holdout() -> ModelVersion | None:
    """The champion intent model, else the newest one (thresholds are set before a promotion too),
    with its stored hold-out predictions and without its artifact; one query."""
    is_champion = ExpressionWrapper(Q(status=ModelStatus.CHAMPION), output_field=BooleanField())
    return (
        ModelVersion.objects.filter(kind=ModelKind.INTENT)
        .annotate(is_champion=is_champion)
        .order_by("-is_champion", "-version")
        .only("id", "kind", "name", "version", "status", "reference", "preprocessing", "metrics")
        .first()
    )


def intent_policies() -> list[IntentPolicy]:
    return list(IntentPolicy.objects.order_by("intent"))
