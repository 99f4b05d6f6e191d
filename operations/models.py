"""Fail-safes as data: kill switches and quotas, switched and tuned in the admin (with history) or by API."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from operations.choices import QuotaScope, QuotaWindow, SwitchScope


class KillSwitch(models.Model):
    """Stops automated execution in its scope while engaged: every outbound call checks it just
    before it starts. Held work stays queued and visible and runs when the switch is released.

    Change it through ``operations.services.kill_switch_set`` (admin, API), which records who and
    why in the decision log in the same transaction.
    """

    scope = models.CharField(max_length=20, choices=SwitchScope.choices)
    target = models.CharField(
        max_length=200,
        blank=True,
        help_text="Connection name, action kind or agent (e.g. sdr-agent, support-bot); empty for global.",
    )
    engaged = models.BooleanField(default=False, help_text="On: nothing in this scope starts.")
    reason = models.CharField(max_length=500, blank=True)
    changed_by = models.CharField(
        max_length=150, blank=True, help_text="Who (or which rule) last switched it."
    )
    changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["scope", "target"]
        constraints = [
            models.UniqueConstraint(fields=["scope", "target"], name="kill_switch_unique_scope_target"),
            models.CheckConstraint(
                condition=Q(scope="global", target="") | (~Q(scope="global") & ~Q(target="")),
                name="kill_switch_target_iff_scoped",
            ),
        ]
        indexes = [models.Index(fields=["engaged"])]

    def __str__(self) -> str:
        where = f" {self.target}" if self.target else ""
        return f"{self.get_scope_display()}{where}: {'ENGAGED' if self.engaged else 'off'}"


class Quota(models.Model):
    """At most ``limit`` automated executions per hour or day in a scope; the excess is held
    (visible in the queue with the reason) until the window has room, never dropped."""

    name = models.CharField(max_length=150, unique=True)
    scope = models.CharField(max_length=20, choices=QuotaScope.choices)
    target = models.CharField(
        max_length=200, blank=True, help_text="One kind / connection / SDR user name; empty: each separately."
    )
    window = models.CharField(max_length=10, choices=QuotaWindow.choices)
    limit = models.PositiveIntegerField()
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["scope", "target", "window"]
        constraints = [models.CheckConstraint(condition=Q(limit__gte=1), name="quota_limit_positive")]

    def __str__(self) -> str:
        return f"{self.name}: {self.limit} per {self.window}"
