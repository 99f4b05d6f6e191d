"""The key a person's email address is known by once we may no longer hold it in clear.

Pure: no ORM. A keyed hash (HMAC-SHA256 with a key derived from ``SECRET_KEY``), so the key
cannot be reversed by hashing a list of likely addresses without the secret. Rotating
``SECRET_KEY`` changes every key: suppressions from erasure would stop matching (see
docs/privacy.md).
"""

from __future__ import annotations

from django.utils.crypto import salted_hmac

_SALT = "agentops.privacy.email-key"


def normalise_email(email: str) -> str:
    """The form every key is computed from: trimmed and lower-cased."""
    return (email or "").strip().lower()


def email_key(email: str) -> str:
    """64 hex characters naming ``email``; empty for an empty address."""
    value = normalise_email(email)
    if not value:
        return ""
    return salted_hmac(_SALT, value, algorithm="sha256").hexdigest()
