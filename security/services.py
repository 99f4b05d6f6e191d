"""Writes for API keys and sessions. Each key change is recorded in the decision log, in the same
transaction (``security.decision_log``: audit registers the writer)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from security.choices import Scope
from security.decision_log import security_event_record
from security.keys import callback_secret_generate, key_generate
from security.models import AccessDenial, ApiKey

logger = logging.getLogger(__name__)


class ApiKeyError(ValueError):
    """A key request the service refuses (unknown scope, past expiry, already revoked)."""


@dataclass(frozen=True)
class IssuedKey:
    """A stored key with its plain value and its callback signing secret, both shown once: the
    plain key exists only here (only its hash is stored); the secret is stored encrypted, to sign."""

    key: ApiKey
    plain: str
    callback_secret: str


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = sorted(set(scopes))
    unknown = [s for s in chosen if s not in Scope.values]
    if unknown:
        raise ApiKeyError(f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(Scope.values)}.")
    if not chosen:
        raise ApiKeyError("A key needs at least one scope.")
    return chosen


def _log(event: str, *, key: ApiKey, actor: str, **details: object) -> None:
    security_event_record(
        event_type=f"api_key.{event}",
        actor=actor,
        subject_type="api_key",
        subject_id=key.pk,
        action_taken={"prefix": key.prefix, "name": key.name, "user": key.user.get_username(), **details},
    )


def apikey_create(
    *,
    user: User,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    rate_per_minute: int | None = None,
    actor: str = "system",
) -> IssuedKey:
    """Issue a key acting as ``user``; the default expiry is API_KEY_DEFAULT_DAYS from now."""
    now = timezone.now()
    expires_at = expires_at or now + timedelta(days=settings.API_KEY_DEFAULT_DAYS)
    if expires_at <= now:
        raise ApiKeyError("The expiry must be in the future.")
    new = key_generate()
    callback_secret = callback_secret_generate()
    with transaction.atomic():
        key = ApiKey.objects.create(
            name=name,
            user=user,
            prefix=new.prefix,
            hashed_key=new.hashed,
            scopes=_clean_scopes(scopes),
            expires_at=expires_at,
            rate_per_minute=rate_per_minute or settings.API_KEY_RATE_PER_MINUTE,
            callback_secret=callback_secret,
        )
        _log("created", key=key, actor=actor, scopes=key.scopes, expires_at=expires_at.isoformat())
    return IssuedKey(key=key, plain=new.plain, callback_secret=callback_secret)


def apikey_rotate(*, key_id: int, overlap: timedelta, actor: str = "system") -> IssuedKey:
    """Issue the successor of a key (same user, name, scopes, rate; a fresh expiry period and a new
    callback secret) and let the old key work only until ``overlap`` from now, so the integration
    can switch without a gap. Callbacks are signed with the successor's secret from now on."""
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().select_related("user").get(pk=key_id)
        now = timezone.now()
        if not old.is_usable(at=now):
            raise ApiKeyError("Only a key that still works can be rotated; issue a new one instead.")
        issued = apikey_create(
            user=old.user,
            name=old.name,
            scopes=old.scopes,
            rate_per_minute=old.rate_per_minute,
            actor=actor,
        )
        issued.key.rotated_from = old
        issued.key.save(update_fields=["rotated_from", "updated_at"])
        old.expires_at = min(old.expires_at, now + overlap)
        old.save(update_fields=["expires_at", "updated_at"])
        _log(
            "rotated",
            key=old,
            actor=actor,
            successor=issued.key.prefix,
            old_expires_at=old.expires_at.isoformat(),
        )
    return issued


def apikey_revoke(*, key_id: int, actor: str = "system") -> ApiKey:
    """End a key at once. Revoking a revoked key changes nothing."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().select_related("user").get(pk=key_id)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at", "updated_at"])
            _log("revoked", key=key, actor=actor)
    return key


LAST_USED_RESOLUTION = timedelta(minutes=1)


def apikey_mark_used(*, key: ApiKey) -> None:
    """Remember when a key was last used, writing at most once a minute per key.

    The update is conditional in the database too, so of the requests of a busy key that all read
    a stale ``last_used_at`` at once (several workers), one writes and the others change no row.
    """
    now = timezone.now()
    stale = now - LAST_USED_RESOLUTION
    if key.last_used_at is None or key.last_used_at < stale:
        ApiKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=key.pk).update(
            last_used_at=now
        )
        key.last_used_at = now


def user_sessions_end(*, user_id: int) -> int:
    """Delete every live session of one user; answers how many.

    Database sessions store the user id only inside the encoded data, so each live session is
    decoded; that is a scan of the session table, fine at this application's scale (people, not
    customers, sign in) and only done when an account is deactivated.
    """
    wanted = str(user_id)
    doomed = [
        s.pk
        for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if str(s.get_decoded().get("_auth_user_id", "")) == wanted
    ]
    Session.objects.filter(pk__in=doomed).delete()
    if doomed:
        logger.info("Ended %d session(s) of deactivated user %s", len(doomed), user_id)
    return len(doomed)


def access_denial_record(
    *, user: Any, method: str, path: str, object_type: str, object_id: object, reason: str
) -> AccessDenial:
    """Record (and log) an attempt to reach an item outside the caller's scope; the caller answers 404."""
    denial = AccessDenial.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None,
        username=user.get_username() if getattr(user, "is_authenticated", False) else "",
        method=method[:10],
        path=path[:500],
        object_type=object_type,
        object_id=str(object_id)[:64],
        reason=reason[:200],
    )
    logger.warning(
        "Out-of-scope access refused with 404",
        extra={
            "event": "access_denied",
            "user": denial.username,
            "user_id": denial.user_id,
            "method": denial.method,
            "path": denial.path,
            "object_type": object_type,
            "object_id": denial.object_id,
            "reason": reason,
        },
    )
    return denial
