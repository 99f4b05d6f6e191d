"""Validation of settings that must fail loudly in production.

Plain functions, no Django import, so the rules are testable without booting a project.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from urllib.parse import urlsplit

# Keys that ship in this repository or are obviously placeholders; never valid in production.
INSECURE_SECRET_KEYS = frozenset(
    {
        "",
        "change-me",
        "changeme",
        "secret",
        "django-insecure-agentops-demo-key-not-for-production",
    }
)
MIN_SECRET_KEY_LENGTH = 50


class SettingsError(ValueError):
    """A setting has a value the application refuses to run with."""


def validate_production_settings(*, debug: bool, secret_key: str, allowed_hosts: Sequence[str]) -> None:
    """Raise SettingsError naming the variable and the reason when production settings are unsafe.

    Only applies when ``debug`` is false: the embedded demo runs with safe local defaults.
    """
    if debug:
        return
    if secret_key in INSECURE_SECRET_KEYS or secret_key.startswith("django-insecure"):
        raise SettingsError(
            "SECRET_KEY: a real secret key is required when DEBUG is false "
            "(the demo key or an empty value was given)."
        )
    if len(secret_key) < MIN_SECRET_KEY_LENGTH or len(set(secret_key)) < 5:
        raise SettingsError(
            f"SECRET_KEY: must be at least {MIN_SECRET_KEY_LENGTH} characters "
            "with at least 5 distinct characters when DEBUG is false."
        )
    hosts = [h.strip() for h in allowed_hosts if h.strip()]
    if not hosts:
        raise SettingsError("ALLOWED_HOSTS: at least one host name is required when DEBUG is false.")
    if "*" in hosts:
        raise SettingsError("ALLOWED_HOSTS: '*' is not allowed when DEBUG is false; list the host names.")


def validate_callback_secret(*, secret: str) -> None:
    """Refuse the retired shared callback secret, in every mode: callbacks are signed with each API
    key's own secret now, and a leftover shared one would only make an operator believe it signs."""
    if secret:
        raise SettingsError(
            "AGENTOPS_CALLBACK_SECRET: no longer used: each API key has its own callback signing "
            "secret, shown once when the key is issued or rotated (docs/api.md); remove this variable."
        )


MIN_PRODUCTION_SECRET_LENGTH = 32


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (ValueError, UnicodeEncodeError):
        return False


def validate_production_secrets(
    *,
    debug: bool,
    encryption_keys: Sequence[str],
    blind_index_key: str,
    metrics_token: str,
    callbacks: bool,
    callback_hosts: Sequence[str],
    audit_redaction_key: str = "",
) -> None:
    """Raise SettingsError naming the variable when a process with DEBUG off would run on a key
    derived from SECRET_KEY, an open /metrics, or callbacks that may go anywhere.

    Keyed on DEBUG, not on ENVIRONMENT: a staging or "local-production" process holds real data too.
    """
    if debug:
        return
    keys = [k.strip() for k in encryption_keys if k.strip()]
    if not keys:
        raise SettingsError(
            "AGENTOPS_ENCRYPTION_KEYS: required when DEBUG is false (no key is derived from SECRET_KEY); "
            "generate one with python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'."
        )
    if not all(_is_fernet_key(k) for k in keys):
        raise SettingsError(
            "AGENTOPS_ENCRYPTION_KEYS: each key must be a Fernet key (32 url-safe base64 bytes)."
        )
    if not blind_index_key:
        raise SettingsError(
            "AGENTOPS_BLIND_INDEX_KEY: required when DEBUG is false (no key is derived from SECRET_KEY); "
            "generate one with python -c 'import secrets; print(secrets.token_urlsafe(32))'."
        )
    if len(blind_index_key) < MIN_PRODUCTION_SECRET_LENGTH:
        raise SettingsError(
            f"AGENTOPS_BLIND_INDEX_KEY: must be at least {MIN_PRODUCTION_SECRET_LENGTH} characters "
            "when DEBUG is false."
        )
    if blind_index_key.strip() in keys:
        raise SettingsError(
            "AGENTOPS_BLIND_INDEX_KEY: must be a separate secret, not one of the encryption keys."
        )
    if not audit_redaction_key:
        raise SettingsError(
            "AGENTOPS_AUDIT_REDACTION_KEY: required when DEBUG is false (a key derived from SECRET_KEY "
            "would let anyone holding it test addresses against the decision log); generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'."
        )
    if len(audit_redaction_key) < MIN_PRODUCTION_SECRET_LENGTH:
        raise SettingsError(
            f"AGENTOPS_AUDIT_REDACTION_KEY: must be at least {MIN_PRODUCTION_SECRET_LENGTH} characters "
            "when DEBUG is false."
        )
    if audit_redaction_key in (blind_index_key, *keys):
        raise SettingsError(
            "AGENTOPS_AUDIT_REDACTION_KEY: must be a separate secret, not the blind-index or an encryption key."
        )
    if not metrics_token:
        raise SettingsError(
            "METRICS_TOKEN: required when DEBUG is false (/metrics is open without it); give the same "
            "value to the scraper as a bearer token."
        )
    if len(metrics_token) < MIN_PRODUCTION_SECRET_LENGTH:
        raise SettingsError(
            f"METRICS_TOKEN: must be at least {MIN_PRODUCTION_SECRET_LENGTH} characters when DEBUG is false."
        )
    hosts = [h.strip() for h in callback_hosts if h.strip()]
    if callbacks and not hosts:
        raise SettingsError(
            "AGENTOPS_CALLBACK_HOSTS: required when DEBUG is false and callbacks are on: list the hosts "
            "your integrations receive callbacks on, or set AGENTOPS_CALLBACKS=false (agents poll)."
        )
    if "*" in hosts:
        raise SettingsError("AGENTOPS_CALLBACK_HOSTS: '*' is not allowed; list the host names.")


def validate_base_url(url: str) -> str:
    """The site's public address for links in notifications: http(s), a host, no query; no trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SettingsError(
            f"AGENTOPS_BASE_URL: must be an http(s) address like https://agentops.example.com, got {url!r}."
        )
    return url.strip().rstrip("/")
