"""Field-level encryption of connection credentials (Fernet, with keys that rotate).

``settings.AGENTOPS_ENCRYPTION_KEYS`` (env, comma-separated Fernet keys): the first key encrypts,
every key decrypts, so a new key goes first and the old one stays until every value was
re-encrypted (``manage.py reencrypt_connections``), then it is dropped. With no keys configured the
demo and the tests use one key derived from SECRET_KEY; in production (``ENVIRONMENT=production``,
the default when DEBUG is off) that is refused, loudly, the first time a secret is encrypted or
decrypted.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """A stored secret no configured key can decrypt (a key was dropped too early, or tampering)."""


def _derived_key(secret_key: str) -> bytes:
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
            "credentials in production; generate one with "
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
        Fernet(configured_keys()[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True
