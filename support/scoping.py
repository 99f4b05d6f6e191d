"""Which tickets a user reaches, by the rule in ``security.roles``."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from security.selectors import user_scope
from support.models import Ticket

M = TypeVar("M", bound=Model)


def tickets_scoped(*, user: Any, queryset: QuerySet[M] | None = None) -> QuerySet[M]:
    """The tickets ``user`` may see: all of them for a ticket-reading role, else none."""
    qs: Any = Ticket.objects.all() if queryset is None else queryset
    return qs if user_scope(user=user).access.tickets else qs.none()
