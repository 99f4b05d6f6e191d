from __future__ import annotations

from django.db import models
from django.db.models import Q

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
