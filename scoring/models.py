from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from scoring.choices import ModelKind, ModelStatus


class ModelVersion(models.Model):
    """A trained model in the registry: artifact, provenance, metrics and deployment status.

    At most one champion per kind is enforced by the database. Status changes go through
    ``scoring.services.model_version_transition`` and the state machine in ``scoring.states``;
    the history table records who changed what and when.
    """

    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE)
    artifact = models.BinaryField(blank=True, default=b"", editable=False)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    training_data_hash = models.CharField(max_length=64, blank=True)
    training_data_from = models.DateTimeField(null=True, blank=True)
    training_data_to = models.DateTimeField(null=True, blank=True)
    training_rows = models.PositiveIntegerField(default=0)
    feature_spec = models.JSONField(default=list, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    library_versions = models.JSONField(default=dict, blank=True)
    canary_share = models.FloatField(default=0.0, help_text="Share of traffic (0–1) while in canary.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["artifact"])

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name", "version"], name="model_version_unique"),
            models.UniqueConstraint(
                fields=["kind"], condition=Q(status="champion"), name="model_one_champion_per_kind"
            ),
            models.CheckConstraint(
                condition=Q(canary_share__gte=0) & Q(canary_share__lte=1),
                name="model_canary_share_range",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in ModelStatus]),
                name="model_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"

    @property
    def label(self) -> str:
        """The identifier written into the decision log and onto proposals."""
        return f"{self.kind}:{self.name}:v{self.version}"
