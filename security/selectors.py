"""A user's access facts, computed once per request: their role (``security.roles``), their groups,
their sales teams, and whether they see personal data in clear.

Each app scopes its own records with these facts (``approvals.scoping`` the proposed actions,
``sales.scoping`` the leads, ``support.scoping`` the tickets); security knows none of those records.

A user's access is computed once per user object (one query for their groups, one more for their
sales teams when they are team-scoped) and kept on it for the rest of the request; so is whether
they see personal data in clear (``user_sees_personal_data``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import Q, QuerySet

from security.masking import PERMISSION as PERSONAL_DATA_PERMISSION
from security.masking import may_view_personal_data
from security.roles import Access, access_for

_CACHE_ATTR = "_agentops_scope"
_PERSONAL_DATA_ATTR = "_agentops_sees_personal_data"
_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@dataclass(frozen=True)
class Teams:
    """The sales teams a team-scoped manager is in, as the app that keeps them reports it: their
    ids, and ``members``, the ids of everybody in them (a subquery, not run on its own)."""

    ids: frozenset[int]
    members: QuerySet[Any]


#: ``teams_of(user=…)``: the user's active sales teams, or None when they are in none.
TeamsOf = Callable[..., Teams | None]

# The app that keeps sales teams (sales: its SDR queues) registers its lookup in AppConfig.ready().
_TEAMS_OF: dict[str, TeamsOf] = {}


def user_teams_register(teams_of: TeamsOf) -> None:
    """Say which sales teams a user is in (``teams_of(user=…)``), for team-scoped roles. One app
    keeps teams: registering again replaces the lookup (``ready()`` may run more than once)."""
    _TEAMS_OF["teams"] = teams_of


def _teams(user: Any) -> Teams | None:
    try:
        teams_of = _TEAMS_OF["teams"]
    except KeyError:
        # Without the lookup a team-scoped manager would see every team's work: refuse instead.
        raise ImproperlyConfigured(
            "A team-scoped role needs the sales teams' lookup (security.selectors.user_teams_register)."
        ) from None
    return teams_of(user=user)


@dataclass(frozen=True)
class Scope:
    """A user's access with what the querysets need: their group ids and (team-scoped) sales teams."""

    access: Access
    group_ids: frozenset[int]
    # None: not narrowed by team (teams not configured for this user, or a role sees all sales).
    teams: Teams | None
    user_id: int | None


_NOBODY = Scope(access=access_for(group_names=()), group_ids=frozenset(), teams=None, user_id=None)


def user_scope(*, user: Any) -> Scope:
    """The scope of ``user`` (anonymous or inactive: nothing)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return _NOBODY
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    groups = list(user.groups.values_list("pk", "name"))
    access = access_for(group_names=[name for _, name in groups], is_superuser=user.is_superuser)
    scope = Scope(
        access=access,
        group_ids=frozenset(pk for pk, _ in groups),
        # A manager in no team is not narrowed; one in teams sees their teams' work.
        teams=_teams(user) if access.team_scoped_sales else None,
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


def user_signed_in(user: User | AnonymousUser) -> User:
    """``user`` as the signed-in user it must be where a person decides or proposes; an anonymous
    one is refused (``PermissionDenied``). The views that decide already require a signed-in user:
    this lets the services' ``user: User`` say so, and fails closed if a view forgets."""
    if not isinstance(user, User):
        raise PermissionDenied("sign in first")
    return user


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
