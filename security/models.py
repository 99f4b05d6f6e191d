from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from security.fields import EncryptedTextField


class ApiKey(models.Model):
    """One integration's credential: a hashed key, its scopes, an expiry, and who it acts as.

    The key authenticates as ``user`` (an integration account), so the user's permissions still
    apply on top of the key's scopes. Rotation issues a new key and moves this one's expiry to the
    end of the overlap window; revocation ends it at once.
    """

    name = models.CharField(max_length=100, help_text="Which integration uses it, e.g. 'HubSpot sync'.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    hashed_key = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text="Scope names, e.g. ['read_leads', 'submit_actions'].")
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    rate_per_minute = models.PositiveIntegerField(
        default=600, help_text="Requests per minute; more answer 429 with Retry-After."
    )
    # Signs the decision callbacks of the actions this integration proposes (HMAC, docs/api.md):
    # one per key, so one integration's secret verifies none of another's callbacks. Shown once
    # when the key is issued; stored encrypted; a rotation issues a new one with the new key.
    callback_secret = EncryptedTextField(blank=True, default="", editable=False)
    rotated_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_to", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "-created_at"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(condition=Q(rate_per_minute__gt=0), name="apikey_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (ak_{self.prefix}_…)"

    def is_usable(self, *, at: datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (at or timezone.now())

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class AccessDenial(models.Model):
    """One refused attempt to reach an object outside the caller's scope (answered 404, not 403).

    Written when a signed-in user or an API key asks for an item by id that their role does not
    cover, so guessing ids is both fruitless and visible. Append-only: rows are never edited.
    The model also carries the project's custom security permissions.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    object_type = models.CharField(max_length=100, help_text="app_label.model of the item asked for.")
    object_id = models.CharField(max_length=64)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("view_personal_data", "Can see contacts' personal data unmasked")]

    def __str__(self) -> str:
        return f"{self.username or 'anonymous'} → {self.object_type} #{self.object_id} ({self.method} {self.path})"
