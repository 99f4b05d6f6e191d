"""Redaction of personal data before it enters the decision log.

Pure functions (no ORM): the decision log only ever holds keyed hashes of personal values, so an
erasure request can leave it intact. The hash is an HMAC-SHA256 under ``AGENTOPS_AUDIT_REDACTION_KEY``
(``hmac:`` + 16 hex characters): a bare hash of an email address is found again by hashing a list
of likely addresses, a keyed one is not without the key. The key is read once per value through
``redaction_key`` (outside production it is derived from SECRET_KEY when not set; production refuses
to run without it). Entries written before the key carry ``sha256:`` tokens; the hash chain covers
what is stored, so they still verify. Changing the key changes the token of every value from then on.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

PREFIX = "hmac:"

PERSONAL_KEYS = frozenset(
    {"email", "phone", "first_name", "last_name", "name", "requester_email", "requester_name", "notes"}
)


def redaction_key() -> bytes:
    """The configured ``AGENTOPS_AUDIT_REDACTION_KEY``; derived from SECRET_KEY outside production.

    Raises ``ImproperlyConfigured`` in production (``ENVIRONMENT=production``) when it is not set.
    """
    from django.conf import settings

    return _key(
        str(getattr(settings, "AGENTOPS_AUDIT_REDACTION_KEY", "") or ""),
        settings.SECRET_KEY,
        settings.ENVIRONMENT == "production",
    )


@lru_cache(maxsize=4)
def _key(configured: str, secret_key: str, production: bool) -> bytes:
    if configured:
        return configured.encode("utf-8")
    if production:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "AGENTOPS_AUDIT_REDACTION_KEY must be set (a long random string, not SECRET_KEY nor another "
            "key) to hash personal data for the decision log in production; generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return hashlib.sha256(b"agentops.audit.redaction:" + secret_key.encode("utf-8")).digest()


def hash_value(value: object, *, key: bytes | None = None) -> str:
    """A stable token for a personal value that cannot be reversed nor looked up without the key:
    ``hmac:`` + the first 16 hex characters of HMAC-SHA256(key, trimmed lower-cased value).

    ``key`` defaults to ``redaction_key()``.
    """
    secret = redaction_key() if key is None else key
    digest = hmac.new(secret, str(value).strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{PREFIX}{digest[:16]}"


def _redact(key: str | None, value: Any, secret: bytes) -> Any:
    if isinstance(value, Mapping):
        return redact_context(value, key=secret)
    if isinstance(value, list | tuple):
        return [_redact(key, item, secret) for item in value]
    if key is not None and key.lower() in PERSONAL_KEYS and value not in (None, ""):
        return hash_value(value, key=secret)
    return value


def redact_context(context: Mapping[str, Any], *, key: bytes | None = None) -> dict[str, Any]:
    """Return a copy of ``context`` with personal values hashed, through nested dicts and lists.

    Keys match case-insensitively; a list under a personal key has each of its items hashed.
    ``key`` is the HMAC key (default ``redaction_key()``).
    """
    secret = redaction_key() if key is None else key
    return {name: _redact(str(name), value, secret) for name, value in context.items()}
