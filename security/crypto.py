"""Field-level encryption with keys that rotate, and the keyed blind index (pure: no ORM).

``settings.AGENTOPS_ENCRYPTION_KEYS`` (env, comma-separated Fernet keys): the first key encrypts,
every key decrypts, so a new key goes first and the old one stays until every value was
re-encrypted (``manage.py reencrypt_connections`` for connection credentials,
``manage.py reencrypt_personal_data`` for personal data), then it is dropped. With no keys
configured the demo and the tests use one key derived from SECRET_KEY; with DEBUG off the process
refuses to start without keys (``agentops.settings_checks.validate_production_secrets``), and in
production (``ENVIRONMENT=production``) deriving is also refused here, the first time a value is
encrypted or decrypted.

``settings.AGENTOPS_BLIND_INDEX_KEY`` keys the HMAC of the blind index (exact lookups of an email
without decrypting every row). It is a separate secret from the encryption keys on purpose: the
index must stay stable while the encryption keys rotate, and leaking one must not give the other.
Changing it means recomputing every index (``manage.py reencrypt_personal_data`` does).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """A stored value no configured key can decrypt (a key was dropped too early, or tampering)."""


def _derived_key(secret_key: str) -> bytes:
    # The label predates personal-data encryption (connection credentials used it first); changing
    # it would make every value stored by the demo unreadable.
    digest = hashlib.sha256(b"agentops.connectors.credentials:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def configured_keys() -> tuple[bytes, ...]:
    """The keys in use, first the encrypting one; derived from SECRET_KEY only outside production."""
    keys = tuple(k.strip().encode() for k in getattr(settings, "AGENTOPS_ENCRYPTION_KEYS", []) if k.strip())
    if keys:
        return keys
    if settings.ENVIRONMENT == "production":
        raise ImproperlyConfigured(
            "AGENTOPS_ENCRYPTION_KEYS must be set (comma-separated Fernet keys) to store connection "
            "credentials and personal data in production; generate one with "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    return (_derived_key(settings.SECRET_KEY),)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[bytes, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"AGENTOPS_ENCRYPTION_KEYS holds a key that is not a Fernet key: {exc}"
        ) from None


@lru_cache(maxsize=4)
def _first(key: bytes) -> Fernet:
    return Fernet(key)


def encrypt(plaintext: str) -> str:
    """``plaintext`` encrypted with the first configured key (a URL-safe token; never the same twice)."""
    return _fernet(configured_keys()).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of ``token``, trying every configured key."""
    try:
        return _fernet(configured_keys()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("no configured key decrypts this value") from None


def reencrypt(token: str) -> str:
    """``token`` re-encrypted with the first key (for rotation); the plaintext is unchanged."""
    try:
        return _fernet(configured_keys()).rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("no configured key decrypts this value") from None


def encrypted_with_first_key(token: str) -> bool:
    """Whether ``token`` already is under the encrypting key (nothing to rotate)."""
    try:
        _first(configured_keys()[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def _blind_index_key() -> bytes:
    key = getattr(settings, "AGENTOPS_BLIND_INDEX_KEY", "")
    if key:
        return str(key).encode()
    if settings.ENVIRONMENT == "production":
        raise ImproperlyConfigured(
            "AGENTOPS_BLIND_INDEX_KEY must be set (a long random string, not one of the encryption "
            "keys) to look personal data up in production; generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return hashlib.sha256(b"agentops.security.blind-index:" + settings.SECRET_KEY.encode()).digest()


def normalise_email(value: str) -> str:
    """The form an email is indexed and compared in: stripped and lower-cased."""
    return value.strip().lower()


def blind_index(value: str) -> str:
    """The keyed HMAC-SHA256 of ``value`` normalised as an email (64 hex); "" for an empty value.

    Equal emails give equal indexes, so an exact lookup is an indexed equality on this column;
    without the key the index reveals nothing, not even to a dictionary of likely addresses.
    """
    normalised = normalise_email(value or "")
    if not normalised:
        return ""
    return hmac.new(_blind_index_key(), normalised.encode("utf-8"), hashlib.sha256).hexdigest()
