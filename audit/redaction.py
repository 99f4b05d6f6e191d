"""Redaction of personal data before it enters the decision log.

Pure functions: the decision log only ever holds hashes of personal values, so an erasure
request can leave it intact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

PERSONAL_KEYS = frozenset(
    {"email", "phone", "first_name", "last_name", "name", "requester_email", "requester_name", "notes"}
)


def hash_value(value: object) -> str:
    """A stable, non-reversible token for a personal value (``sha256:`` + 16 hex characters)."""
    digest = hashlib.sha256(str(value).strip().lower().encode("utf-8")).hexdigest()
    return f"sha256:{digest[:16]}"


def _redact(key: str | None, value: Any) -> Any:
    if isinstance(value, Mapping):
        return redact_context(value)
    if isinstance(value, list | tuple):
        return [_redact(key, item) for item in value]
    if key is not None and key.lower() in PERSONAL_KEYS and value not in (None, ""):
        return hash_value(value)
    return value


def redact_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``context`` with personal values hashed, through nested dicts and lists.

    Keys match case-insensitively; a list under a personal key has each of its items hashed.
    """
    return {key: _redact(str(key), value) for key, value in context.items()}
