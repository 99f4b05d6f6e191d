from __future__ import annotations

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from connectors.choices import SourceSystem
from support.choices import TicketChannel, TicketPriority, TicketStatus


class Ticket(models.Model):
    """A support conversation mirrored from a helpdesk (Zendesk, Intercom) or imported.

    ``intent_label`` is a known, human-given intent (training data such as BANKING77);
    ``predicted_intent`` and ``intent_confidence`` are what the intent model said.
    """

    source = models.CharField(max_length=20, choices=SourceSystem.choices)
    external_id = models.CharField(max_length=100)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    requester_name = models.CharField(max_length=200, blank=True)
    requester_email = models.EmailField(blank=True)
    account = models.ForeignKey(
        "sales.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    status = models.CharField(max_length=20, choices=TicketStatus.choices, default=TicketStatus.NEW)
    priority = models.CharField(max_length=20, choices=TicketPriority.choices, default=TicketPriority.NORMAL)
    channel = models.CharField(max_length=20, choices=TicketChannel.choices, default=TicketChannel.EMAIL)
    assigned_group = models.CharField(max_length=100, blank=True)
    intent_label = models.CharField(max_length=80, blank=True, db_index=True)
    predicted_intent = models.CharField(max_length=80, blank=True)
    intent_confidence = models.FloatField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    source_created_at = models.DateTimeField(null=True, blank=True)
    source_modified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="ticket_unique_external_id"),
            models.CheckConstraint(
                condition=Q(intent_confidence__isnull=True)
                | (Q(intent_confidence__gte=0) & Q(intent_confidence__lte=1)),
                name="ticket_intent_confidence_range",
            ),
        ]
        indexes = [models.Index(fields=["status", "priority"])]

    def __str__(self) -> str:
        return self.subject or self.body[:60]


class IntentPolicy(models.Model):
    """How the support bot may act on one intent, edited by support leads in the admin (with history).

    The bot answers a ticket on its own only if the intent ``is_safe``, does not ``require_human``,
    and the intent model's confidence is at least ``threshold``; otherwise the ticket is handed off.
    Intents that imply an irreversible or sensitive change (refunds, lost or compromised cards,
    disputes, identity, account closure) are seeded not safe and requiring a human.
    """

    intent = models.CharField(max_length=80, unique=True)
    threshold = models.FloatField(
        default=0.9, help_text="Confidence (0–1) the intent model needs before the bot may answer."
    )
    is_safe = models.BooleanField(
        default=False, help_text="The bot may answer this intent automatically when confident enough."
    )
    requires_human = models.BooleanField(
        default=False, help_text="Always hand off to a person; any write it needs goes through approval."
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["intent"]
        verbose_name_plural = "intent policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold__gte=0) & Q(threshold__lte=1), name="intent_policy_threshold_range"
            ),
            models.CheckConstraint(
                condition=~(Q(is_safe=True) & Q(requires_human=True)),
                name="intent_policy_safe_or_human",
            ),
        ]

    def __str__(self) -> str:
        return self.intent

    def may_auto_answer(self, confidence: float) -> bool:
        """Whether the bot may answer a ticket of this intent predicted with ``confidence``."""
        return self.is_safe and not self.requires_human and confidence >= self.threshold
