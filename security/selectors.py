"""Scoping reads: which proposed actions, leads and tickets a user reaches, by the rule in
``security.roles``. Every page and API view that lists or opens these goes through here.

A user's access is computed once per user object (one query for their groups, one more for their
SDR queues when they are team-scoped) and kept on it for the rest of the request; so is whether
they see personal data in clear (``user_sees_personal_data``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet

from security.masking import PERMISSION as PERSONAL_DATA_PERMISSION
from security.masking import may_view_personal_data
from security.roles import SALES, Access, access_for, api_only

M = TypeVar("M", bound=Model)

_CACHE_ATTR = "_agentops_scope"
_PERSONAL_DATA_ATTR = "_agentops_sees_personal_data"
_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@dataclass(frozen=True)
class Scope:
    """A user's access with what the querysets need: their group ids and (team-scoped) SDR queues."""

    access: Access
    group_ids: frozenset[int]
    # None: not narrowed by team (teams not configured for this user, or a role sees all sales).
    queue_names: frozenset[str] | None
    queue_ids: frozenset[int]
    user_id: int | None


_NOBODY = Scope(
    access=access_for(group_names=()),
    group_ids=frozenset(),
    queue_names=None,
    queue_ids=frozenset(),
    user_id=None,
)


def user_scope(*, user: Any) -> Scope:
    """The scope of ``user`` (anonymous or inactive: nothing)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return _NOBODY
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    groups = list(user.groups.values_list("pk", "name"))
    access = access_for(group_names=[name for _, name in groups], is_superuser=user.is_superuser)
    queue_names: frozenset[str] | None = None
    queue_ids: frozenset[int] = frozenset()
    if access.team_scoped_sales:
        from sales.models import SdrQueue

        queues = list(SdrQueue.objects.filter(members=user, is_active=True).values_list("pk", "name"))
        if queues:  # teams are configured for this manager: narrow to them
            queue_ids = frozenset(pk for pk, _ in queues)
            queue_names = frozenset(name for _, name in queues)
    scope = Scope(
        access=access,
        group_ids=frozenset(pk for pk, _ in groups),
        queue_names=queue_names,
        queue_ids=queue_ids,
        user_id=user.pk,
    )
    setattr(user, _CACHE_ATTR, scope)
    return scope


def user_access(*, user: Any) -> Access:
    return user_scope(user=user).access


def user_sees_personal_data(*, user: Any) -> bool:
    """Whether ``user`` sees personal data in clear: ``security.view_personal_data``, the same answer
    as ``user.has_perm`` (``security.masking.may_view_personal_data``), kept on the user object.

    ``has_perm`` loads every permission of the user and of their groups (two queries, and hundreds of
    rows for an Ops admin) to answer about one; an API request needs only this one, so under Django's
    ``ModelBackend`` alone it is one ``EXISTS`` query (the user's own permission or a group's, as
    that backend grants them). Permissions already loaded on the object, or other backends, go
    through ``has_perm`` itself.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    cached = getattr(user, _PERSONAL_DATA_ATTR, None)
    if cached is not None:
        return cached
    if hasattr(user, "_perm_cache") or list(settings.AUTHENTICATION_BACKENDS) != [_MODEL_BACKEND]:
        sees = may_view_personal_data(user)
    elif not user.is_active:
        sees = False
    elif user.is_superuser:
        sees = True
    else:
        from django.contrib.auth.models import Permission

        app_label, codename = PERSONAL_DATA_PERMISSION.split(".")
        sees = (
            Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            .filter(Q(user=user) | Q(group__user=user))
            .exists()
        )
    setattr(user, _PERSONAL_DATA_ATTR, sees)
    return sees


def _actions_q(scope: Scope) -> Q | None:
    """The filter of the actions a scope sees; None for everything."""
    access = scope.access
    if access.superuser:
        return None
    q = Q(domain__in=sorted(access.see_domains))
    if not access.all_routes:
        q &= Q(approver_group__isnull=True) | Q(approver_group__in=sorted(scope.group_ids))
    if scope.queue_names is not None:
        # A sales item on a lead owned by another team's member is that team's; one on an unowned
        # lead (or on none) is everybody's. (The payload is encrypted at rest, so the lead decides.)
        q &= (
            ~Q(domain=SALES)
            | Q(lead__isnull=True)
            | Q(lead__owner__isnull=True)
            | Q(lead__owner__in=_team_members(scope))
        )
    return q


def _team_members(scope: Scope) -> QuerySet[Any]:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(sdr_queues__in=sorted(scope.queue_ids)).values("pk")


def actions_scoped(*, user: Any, queryset: QuerySet[M] | None = None) -> QuerySet[M]:
    """The proposed actions ``user`` may see (all of ``queryset``'s that are in scope)."""
    from approvals.models import ProposedAction

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
    from security.choices import Scope as KeyScope
    from security.models import ApiKey

    qs = actions_scoped(user=user, queryset=queryset)
    access = user_access(user=user)
    if isinstance(key, ApiKey):
        reads_all = key.has_scope(KeyScope.READ_ACTIONS) or (
            key.has_scope(KeyScope.DECIDE_ACTIONS) and access.decides_anything
        )
    else:
        reads_all = not api_only(access)
    return qs if reads_all else qs.filter(proposed_by_user_id=user.pk)


def user_signed_in(user: User | AnonymousUser) -> User:
    """``user`` as the signed-in user it must be where a person decides or proposes; an anonymous
    one is refused (``PermissionDenied``). The views that decide already require a signed-in user:
    this lets the services' ``user: User`` say so, and fails closed if a view forgets."""
    if not isinstance(user, User):
        raise PermissionDenied("sign in first")
    return user


def leads_scoped(*, user: Any, queryset: QuerySet[M] | None = None) -> QuerySet[M]:
    """The leads ``user`` may see: none without a lead-reading role; a team-scoped SDR manager's
    are those owned by a member of their SDR queues, or by nobody."""
    from sales.models import Lead

    qs: Any = Lead.objects.all() if queryset is None else queryset
    scope = user_scope(user=user)
    if not scope.access.leads:
        return qs.none()
    if scope.queue_names is not None:
        return qs.filter(Q(owner__isnull=True) | Q(owner__in=_team_members(scope)))
    return qs


def tickets_scoped(*, user: Any, queryset: QuerySet[M] | None = None) -> QuerySet[M]:
    """The tickets ``user`` may see: all of them for a ticket-reading role, else none."""
    from support.models import Ticket

    qs: Any = Ticket.objects.all() if queryset is None else queryset
    return qs if user_scope(user=user).access.tickets else qs.none()


def apikey_callback_secret(*, user_id: int | None) -> str | None:
    """The secret that signs decision callbacks for actions proposed by ``user_id`` (an integration
    account): its newest usable key's. After a rotation that is the successor's, so callbacks are
    signed with the new secret as soon as it is issued. None when the account has no usable key
    with a secret (keys issued before per-key secrets get one by rotating)."""
    from django.utils import timezone

    from security.models import ApiKey

    if user_id is None:
        return None
    key = (
        ApiKey.objects.filter(user_id=user_id, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .exclude(callback_secret="")
        .order_by("-created_at", "-id")
        .only("callback_secret")
        .first()
    )
    return key.callback_secret if key is not None else None
