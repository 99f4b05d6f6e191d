from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from privacy.choices import (
    ALLOWED_ACTIONS,
    Channel,
    ConsentStatus,
    DataKind,
    LawfulBasis,
    RequestKind,
    RequestStatus,
    RetentionAction,
)


class AppendOnlyError(Exception):
    """A consent record is proof of what the person said and when: it is never changed."""


class ConsentRecord(models.Model):
    """One consent statement of a person for one channel: granted or withdrawn, on what lawful
    basis, from where, when and by whom. Rows are only ever added; the person's current state for
    a channel is the latest row (``privacy.selectors``).

    A record names the person by ``lead`` and by ``email_key`` (``privacy.keys``), so it still
    applies when the lead is erased or deleted, and to a later re-import of the same address.
    """

    lead = models.ForeignKey(
        "sales.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="consent_records"
    )
    email_key = models.CharField(max_length=64, blank=True, db_index=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=ConsentStatus.choices)
    lawful_basis = models.CharField(max_length=20, choices=LawfulBasis.choices, default=LawfulBasis.CONSENT)
    source = models.CharField(max_length=60, help_text="form, import, api, webhook:<vendor>, admin …")
    recorded_at = models.DateTimeField(db_index=True)
    recorded_by = models.CharField(max_length=100, help_text="The user or agent that recorded it.")
    note = models.CharField(max_length=300, blank=True)
    evidence = models.CharField(
        max_length=500,
        blank=True,
        help_text="What proves a grant that lifts a withdrawal: a reference to what the person signed or said, where and when (a form submission, a ticket); no personal data.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(lead__isnull=False) | ~Q(email_key=""), name="consent_names_a_person"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=[c.value for c in Channel]), name="consent_channel_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in ConsentStatus]), name="consent_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["lead", "channel", "recorded_at"])]

    def __str__(self) -> str:
        who = f"lead #{self.lead_id}" if self.lead_id else f"key {self.email_key[:8]}…"
        return f"{who}: {self.channel} {self.status} ({self.source})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyError("consent records are append-only; record a new one instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("consent records are append-only; they are kept as proof")


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
    found); on completion it is blanked and only ``subject_key`` (``privacy.keys``) remains.
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
