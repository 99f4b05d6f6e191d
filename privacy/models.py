from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from privacy.choices import (
    ALLOWED_ACTIONS,
    DataKind,
    RequestKind,
    RequestStatus,
    RetentionAction,
)


class RetentionPolicy(models.Model):
    """How long one kind of data is kept, and what happens after (edited in the admin, with history).

    ``manage.py purge_expired`` applies every active policy: rows older than ``days`` are deleted
    or anonymised (personal values blanked, the row kept for the metrics).
    """

    kind = models.CharField(max_length=30, choices=DataKind.choices, unique=True)
    days = models.PositiveIntegerField(help_text="Kept this many days after the row's last activity.")
    action = models.CharField(max_length=10, choices=RetentionAction.choices)
    is_active = models.BooleanField(default=True)
    notes = models.TextField(blank=True, help_text="Why this period (legal basis, contract).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind"]
        verbose_name_plural = "retention policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=[a.value for a in RetentionAction]), name="retention_action_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.get_action_display()} after {self.days} days"

    def clean(self) -> None:
        allowed = ALLOWED_ACTIONS.get(self.kind, ())
        if self.kind and self.action and self.action not in allowed:
            raise ValidationError({"action": f"{self.get_kind_display()} can only be: {', '.join(allowed)}."})


class DataSubjectRequest(models.Model):
    """A person's request to have their data erased, or to see what is held about them.

    The address is held in clear only while the request is pending (it is how their records are
    found); on completion it is blanked and only ``subject_key`` (``consent.keys``) remains.
    ``result`` holds counts and record ids, never personal values.
    """

    kind = models.CharField(max_length=10, choices=RequestKind.choices)
    subject_email = models.EmailField(blank=True, help_text="Blanked when the request completes.")
    subject_key = models.CharField(max_length=64, db_index=True, editable=False)
    status = models.CharField(max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True, editable=False)
    notes = models.TextField(
        blank=True, help_text="Reference of the request (ticket, letter); no personal data."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=RequestStatus.PENDING, completed_at__isnull=True)
                | Q(status=RequestStatus.COMPLETED, completed_at__isnull=False, subject_email=""),
                name="dsr_completed_has_time_and_no_address",
            ),
            models.CheckConstraint(condition=~Q(subject_key=""), name="dsr_has_subject_key"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"
