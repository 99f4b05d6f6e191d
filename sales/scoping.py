"""Which leads a user reaches, and the sales teams (SDR queues) security narrows a team-scoped
manager's sales work to (``sdr_teams_of``, registered with ``security.selectors`` in
``SalesConfig.ready()``)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.db.models import Model, Q, QuerySet

from sales.models import Lead, SdrQueue
from security.selectors import Teams, user_scope

M = TypeVar("M", bound=Model)


def sdr_teams_of(*, user: Any) -> Teams | None:
    """The active SDR queues ``user`` is a member of, as security's teams; None when they are in
    none (teams are not configured for them, so nothing narrows). One query."""
    ids = frozenset(SdrQueue.objects.filter(members=user, is_active=True).values_list("pk", flat=True))
    if not ids:
        return None
    return Teams(ids=ids, members=get_user_model().objects.filter(sdr_queues__in=sorted(ids)).values("pk"))


def leads_scoped(*, user: Any, queryset: QuerySet[M] | None = None) -> QuerySet[M]:
    """The leads ``user`` may see: none without a lead-reading role; a team-scoped SDR manager's
    are those owned by a member of their SDR queues, or by nobody."""
    qs: Any = Lead.objects.all() if queryset is None else queryset
    scope = user_scope(user=user)
    if not scope.access.leads:
        return qs.none()
    if scope.teams is not None:
        return qs.filter(Q(owner__isnull=True) | Q(owner__in=scope.teams.members))
    return qs
