"""The consent registry's one model: append-only consent statements, kept as proof."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from consent.choices import Channel, ConsentStatus, LawfulBasis


class AppendOnlyError(Exception):
    """A consent record is proof of what the person said and when: it is never changed."""


class ConsentRecord(models.Model):
    """One consent statement of a person for one channel: granted or withdrawn, on what lawful
    basis, from where, when and by whom. Rows are only ever added; the person's current state for
    a channel is the latest row (``consent.selectors``).

    A record names the person by ``lead`` and by ``email_key`` (``consent.keys``), so it still
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
        # The table keeps the name it had in the privacy app, where the registry started.
        db_table = "privacy_consentrecord"
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
