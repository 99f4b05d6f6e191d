from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from audit.choices import EventType


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete a decision-log entry."""


class DecisionLogQuerySet(models.QuerySet["DecisionLogEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Decision-log entries cannot be updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Decision-log entries cannot be deleted.")


class DecisionLogEntry(models.Model):
    """One append-only record of a decision, with the schema of the seed's sample logging schema.

    Personal data never enters ``input_context`` in clear: callers pass it through
    ``audit.redaction.redact_context`` first. Outcomes are appended as new entries that point at
    the entry they complete (``caused_by``), never written back into an old row. On PostgreSQL the
    database itself rejects UPDATE, DELETE and TRUNCATE on this table (see migration 0002).
    """

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    actor = models.CharField(max_length=150, help_text="User name, or agent/service id.")
    input_context = models.JSONField(default=dict, blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    prediction = models.JSONField(default=dict, blank=True)
    action_taken = models.JSONField(default=dict, blank=True)
    approval = models.JSONField(default=dict, blank=True)
    outcome = models.JSONField(default=dict, blank=True)
    correlation_id = models.UUIDField(null=True, blank=True, db_index=True)
    environment = models.CharField(max_length=40, default="demo")
    subject_type = models.CharField(max_length=40, blank=True, help_text="e.g. 'proposed_action'.")
    subject_id = models.CharField(max_length=64, blank=True)
    caused_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="followups"
    )

    objects = DecisionLogQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name = "decision-log entry"
        verbose_name_plural = "decision log"
        indexes = [models.Index(fields=["subject_type", "subject_id", "timestamp"])]

    def __str__(self) -> str:
        return f"{self.event_type} by {self.actor} at {self.timestamp:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("Decision-log entries cannot be updated.")
        if not self.environment:
            self.environment = settings.ENVIRONMENT
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Decision-log entries cannot be deleted.")


class AuditSealQuerySet(models.QuerySet["AuditSeal"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit seals cannot be updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit seals cannot be deleted.")


class AuditSeal(models.Model):
    """The hash-chain link of one decision-log entry, written by the sealer shortly after the entry.

    ``entry_hash`` is the SHA-256 of the entry's canonical form and ``chain_hash`` the SHA-256 of the
    previous seal's chain hash followed by ``entry_hash`` (``audit.chain``). Sequence order is seal
    order, not entry id order: an entry whose transaction commits late is sealed after entries
    with higher ids. Append-only like the log: on PostgreSQL the database rejects UPDATE, DELETE and
    TRUNCATE (migration 0006).
    """

    entry = models.OneToOneField(DecisionLogEntry, on_delete=models.PROTECT, related_name="seal")
    sequence = models.PositiveBigIntegerField(unique=True)
    entry_hash = models.CharField(max_length=64)
    chain_hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(db_index=True)

    objects = AuditSealQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        verbose_name = "audit seal"
        constraints = [
            models.CheckConstraint(condition=models.Q(sequence__gte=1), name="audit_seal_sequence_from_1")
        ]

    def __str__(self) -> str:
        return f"seal {self.sequence} of entry #{self.entry_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("Audit seals cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit seals cannot be deleted.")
