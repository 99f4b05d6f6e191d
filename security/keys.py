"""The API key format: pure functions, no ORM, so the rules are testable on their own.

A key reads ``ak_<prefix>_<secret>``: the 10-character prefix is stored in clear to find the key
and to name it in logs; only the SHA-256 of the whole key is stored. The secret is 256 random bits,
so a plain (unsalted, fast) hash is enough: nobody can guess their way to a preimage.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

KEY_TAG = "ak"
PREFIX_LENGTH = 10
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class NewKey:
    prefix: str
    plain: str
    hashed: str


CALLBACK_SECRET_TAG = "whsec"  # noqa: S105 - a label, not a secret


def callback_secret_generate() -> str:
    """A fresh callback signing secret: ``whsec_`` and 256 random bits (URL-safe)."""
    return f"{CALLBACK_SECRET_TAG}_{secrets.token_urlsafe(32)}"


def key_hash(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def key_generate() -> NewKey:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    plain = f"{KEY_TAG}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(prefix=prefix, plain=plain, hashed=key_hash(plain))


def key_prefix(plain: str) -> str | None:
    """The lookup prefix of something that looks like a key, else None."""
    tag, _, rest = plain.partition("_")
    prefix, _, secret = rest.partition("_")
    if tag != KEY_TAG or len(prefix) != PREFIX_LENGTH or not secret:
        return None
    return prefix


def key_matches(plain: str, hashed: str) -> bool:
    return hmac.compare_digest(key_hash(plain), hashed)
