"""Validation of settings that must fail loudly in production.

Plain functions, no Django import, so the rules are testable without booting a project.
"""

from __future__ import annotations

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


DEMO_CALLBACK_SECRET = "agentops-demo-callback-secret-not-for-production"  # noqa: S105 - refused unless DEBUG
MIN_CALLBACK_SECRET_LENGTH = 32


def validate_callback_secret(*, debug: bool, secret: str) -> None:
    """Refuse the shipped demo callback secret, or a short one, when DEBUG is false.

    Empty is allowed: callbacks are then off and the API refuses ``callback_url`` (agents poll).
    """
    if debug or not secret:
        return
    if secret == DEMO_CALLBACK_SECRET or secret in INSECURE_SECRET_KEYS:
        raise SettingsError(
            "AGENTOPS_CALLBACK_SECRET: the demo secret is not allowed when DEBUG is false; "
            "set a random value shared with your integrations, or leave it empty to turn callbacks off."
        )
    if len(secret) < MIN_CALLBACK_SECRET_LENGTH:
        raise SettingsError(
            f"AGENTOPS_CALLBACK_SECRET: must be at least {MIN_CALLBACK_SECRET_LENGTH} characters when DEBUG is false."
        )


def validate_base_url(url: str) -> str:
    """The site's public address for links in notifications: http(s), a host, no query; no trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SettingsError(
            f"AGENTOPS_BASE_URL: must be an http(s) address like https://agentops.example.com, got {url!r}."
        )
    return url.strip().rstrip("/")
