"""Configured connections to systems of record: where a vendor account lives and how to reach it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from approvals.choices import ActionKind
from connectors import crypto
from connectors.base import ConnectionConfig
from connectors.choices import Vendor

MIN_TIMEOUT_SECONDS = 0.1
MAX_TIMEOUT_SECONDS = 120.0


class Connection(models.Model):
    """One account at one vendor (Salesforce org, HubSpot portal …) that connectors act on.

    ``base_url`` may point anywhere, which is how tests and the demo target the sandbox.
    ``credentials_encrypted`` holds the vendor secrets (token …) as a Fernet token (see
    ``connectors.crypto``); read them with ``credentials`` and set them with ``set_credentials``.
    Read-only is the default: the connection may write only the action kinds in ``write_scopes``.
    The history keeps every change except the secret.
    """

    name = models.CharField(max_length=100, unique=True)
    vendor = models.CharField(max_length=20, choices=Vendor.choices)
    base_url = models.URLField(max_length=500, help_text="API base URL, e.g. https://api.hubapi.com")
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    timeout_seconds = models.FloatField(
        default=10.0,
        validators=[MinValueValidator(MIN_TIMEOUT_SECONDS), MaxValueValidator(MAX_TIMEOUT_SECONDS)],
        help_text="Timeout of every call to the vendor, in seconds.",
    )
    options = models.JSONField(
        default=dict, blank=True, help_text="Vendor options that are not secret (external id field …)."
    )
    write_scopes = models.JSONField(
        default=list, blank=True, help_text="Action kinds this connection may write; empty is read-only."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["credentials_encrypted"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(vendor__in=Vendor.values), name="connection_vendor_known"
            ),
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gte=MIN_TIMEOUT_SECONDS)
                & models.Q(timeout_seconds__lte=MAX_TIMEOUT_SECONDS),
                name="connection_timeout_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_vendor_display()})"

    # Credentials ---------------------------------------------------------------------------------
    @property
    def credentials(self) -> dict[str, str]:
        """The decrypted secrets; ``crypto.DecryptionError`` if no configured key can read them."""
        if not self.credentials_encrypted:
            return {}
        return dict(json.loads(crypto.decrypt(self.credentials_encrypted)))

    def set_credentials(self, credentials: Mapping[str, str]) -> None:
        """Encrypt ``credentials`` into the model (saved with the next ``save``)."""
        clean = {str(k): str(v) for k, v in credentials.items()}
        self.credentials_encrypted = crypto.encrypt(json.dumps(clean, sort_keys=True)) if clean else ""

    def masked_credentials(self) -> str:
        """Which secrets are set, never their values: ``access_token: ••••••••``."""
        if not self.credentials_encrypted:
            return "—"
        try:
            names = sorted(self.credentials)
        except crypto.DecryptionError:
            return "(cannot be decrypted with the configured keys)"
        return ", ".join(f"{name}: ••••••••" for name in names)

    # Use -----------------------------------------------------------------------------------------
    def may_write(self, action_kind: str) -> bool:
        """Whether this connection was granted writes of ``action_kind`` (and is active)."""
        return self.is_active and action_kind in self.write_scopes

    def config(self) -> ConnectionConfig:
        """What a connector needs, with the secrets decrypted (never log it)."""
        return ConnectionConfig(
            vendor=self.vendor,
            base_url=self.base_url,
            credentials=self.credentials,
            timeout_seconds=self.timeout_seconds,
            options=dict(self.options or {}),
        )

    def clean(self) -> None:
        super().clean()
        errors: dict[str, Any] = {}
        scopes = self.write_scopes
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            errors["write_scopes"] = 'A list of action kinds, e.g. ["create_task"].'
        else:
            unknown = sorted(set(scopes) - set(ActionKind.values))
            if unknown:
                errors["write_scopes"] = f"Unknown action kinds: {', '.join(unknown)}."
            elif len(set(scopes)) != len(scopes):
                errors["write_scopes"] = "Each action kind once."
        if not isinstance(self.options, dict):
            errors["options"] = "A JSON object."
        if errors:
            raise ValidationError(errors)


class ThrottleState(models.Model):
    """A connection's circuit breaker or rate-limit window, shared by every worker process.

    Written only through ``connectors.throttle.DatabaseStore`` under a row lock; ``data`` is the
    JSON of ``resilience.BreakerState`` or ``resilience.WindowState``. Used when there is no Redis.
    """

    key = models.CharField(max_length=200, unique=True)
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key
