"""Which proposed actions a user sees, decides and reads over the API, by the rule in
``security.roles`` and the user's access facts (``security.selectors.user_scope``). Every page and
API view that lists or opens actions goes through here."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from approvals.choices import Domain
from approvals.models import ProposedAction
from security.choices import Scope as KeyScope
from security.models import ApiKey
from security.roles import api_only
from security.selectors import Scope, user_access, user_scope

M = TypeVar("M", bound=Model)


def _actions_q(scope: Scope) -> Q | None:
    """The filter of the actions a scope sees; None for everything."""
    access = scope.access
    if access.superuser:
        return None
    q = Q(domain__in=sorted(access.see_domains))
    if not access.all_routes:
        q &= Q(approver_group__isnull=True) | Q(approver_group__in=sorted(scope.group_ids))
    if scope.teams is not None:
        # A sales item on a lead owned by another team's member is that team's; one on an unowned
        # lead (or on none) is everybody's. (The payload is encrypted at rest, so the lead decides.)
        q &= (
            ~Q(domain=Domain.SALES)
            | Q(lead__isnull=True)
            | Q(lead__owner__isnull=True)
            | Q(lead__owner__in=scope.teams.members)
        )
    return q


def actions_scoped(*, user: Any, queryset: QuerySet[M] | None = None) -> QuerySet[M]:
    """The proposed actions ``user`` may see (all of ``queryset``'s that are in scope)."""
    qs: Any = ProposedAction.objects.all() if queryset is None else queryset
    scope = user_scope(user=user)
    if not scope.access.see_domains:
        return qs.none()
    q = _actions_q(scope)
    return qs if q is None else qs.filter(q)


def actions_decidable(*, user: Any, queryset: QuerySet[M] | None = None) -> QuerySet[M]:
    """The proposed actions ``user`` may approve, reject or defer: seen, and of a domain they decide."""
    scope = user_scope(user=user)
    qs = actions_scoped(user=user, queryset=queryset)
    if scope.access.superuser:
        return qs
    if not scope.access.decide_domains:
        return qs.none()
    return qs.filter(domain__in=sorted(scope.access.decide_domains))


def actions_readable(*, user: Any, key: Any = None, queryset: QuerySet[M] | None = None) -> QuerySet[M]:
    """The proposed actions ``user`` reads over the API, ``key`` being the request's API key (None
    for a session or basic authentication): those in scope (``actions_scoped``), narrowed to the
    ones the caller proposed itself when it reads as an agent polling its proposals.

    An agent reads only what it proposed: a key with neither ``read_actions`` nor (for a role that
    decides) ``decide_actions``, and an integration account (``security.roles.api_only``) without a
    key of ``read_actions``. One agent never learns what another proposed, and to whom.
    """
    qs = actions_scoped(user=user, queryset=queryset)
    access = user_access(user=user)
    if isinstance(key, ApiKey):
        reads_all = key.has_scope(KeyScope.READ_ACTIONS) or (
            key.has_scope(KeyScope.DECIDE_ACTIONS) and access.decides_anything
        )
    else:
        reads_all = not api_only(access)
    return qs if reads_all else qs.filter(proposed_by_user_id=user.pk)
