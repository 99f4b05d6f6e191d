from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from scoring.choices import AlertStatus, DriftLevel, ModelKind, ModelStatus, ScoreRole, Tier


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
    feature_set = models.ForeignKey(
        "scoring.FeatureSet", null=True, blank=True, on_delete=models.PROTECT, related_name="versions"
    )
    preprocessing = models.JSONField(
        default=dict, blank=True, help_text="Category vocabulary, calibration and base score."
    )
    reference = models.JSONField(default=dict, blank=True, help_text="Training distributions for drift.")
    validation = models.JSONField(default=dict, blank=True, help_text="Latest validation-gate result.")
    validation_lead_ids = models.JSONField(default=list, blank=True, editable=False)
    last_champion_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["artifact", "validation_lead_ids", "reference"])

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


class FeatureSet(models.Model):
    """The features a lead model is trained on, declared as data (see ``scoring.features``).

    Also names the leads it learns from (``lead_source``, empty for all) and the subgroups the
    fairness check compares. Edited in the admin, with history; every ModelVersion keeps a copy.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    lead_source = models.CharField(max_length=20, blank=True, help_text="Train on leads of this source only.")
    features = models.JSONField(help_text="List of feature definitions.")
    fairness_groups = models.JSONField(
        default=list,
        blank=True,
        help_text='e.g. [{"name": "age band", "source": "attributes.age", "edges": [30, 45, 60]}]',
    )
    hyperparameters = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from scoring.features import SpecError, parse_spec

        try:
            parse_spec(self.features)
        except SpecError as exc:
            raise ValidationError({"features": str(exc)}) from exc


class ScoringPolicy(models.Model):
    """Business-tunable thresholds for one model kind: tiers, validation gate, drift, score drops."""

    kind = models.CharField(max_length=20, choices=ModelKind.choices, unique=True)
    hot_threshold = models.PositiveSmallIntegerField(default=80)
    warm_threshold = models.PositiveSmallIntegerField(default=50)
    leakage_auc = models.FloatField(
        default=0.95, help_text="A single feature ranking this well blocks promotion."
    )
    min_auc_margin = models.FloatField(
        default=0.0, help_text="A candidate must reach the champion's AUC minus this on the same hold-out."
    )
    min_auc = models.FloatField(default=0.55, help_text="Absolute floor for validation ROC AUC.")
    max_label_ratio = models.FloatField(
        default=3.0, help_text="Max factor between the positive rates of training and hold-out."
    )
    min_positive_rate = models.FloatField(
        default=0.005,
        help_text="Both training and hold-out need at least this share of positives (and of negatives).",
    )
    fairness_max_tpr_gap = models.FloatField(default=0.3)
    fairness_max_fpr_gap = models.FloatField(default=0.3)
    fairness_min_group_size = models.PositiveIntegerField(default=100)
    psi_warn = models.FloatField(default=0.1)
    psi_alert = models.FloatField(default=0.25)
    drift_window_days = models.PositiveIntegerField(default=30)
    drift_min_sample = models.PositiveIntegerField(default=50)
    retrain_on_drift = models.BooleanField(default=False, help_text="Queue retraining when drift alerts.")
    score_drop_percent = models.PositiveSmallIntegerField(default=30)
    score_drop_days = models.PositiveSmallIntegerField(default=7)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind"]
        verbose_name_plural = "scoring policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(warm_threshold__lt=models.F("hot_threshold"))
                & models.Q(hot_threshold__lte=100),
                name="policy_tiers_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(psi_warn__gt=0) & models.Q(psi_warn__lt=models.F("psi_alert")),
                name="policy_psi_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"Scoring policy for {self.get_kind_display()}"

    @property
    def tier_thresholds(self) -> dict[str, float]:
        return {"hot": float(self.hot_threshold), "warm": float(self.warm_threshold)}


class LeadScore(models.Model):
    """One score of one lead by one model version; append-only history.

    A row is written only when something changed (features, model or tier thresholds), so the
    history shows real movements and a re-run over unchanged leads writes nothing. The acting
    score of a lead is its newest champion or canary row; shadow rows are logged, never acted on.
    """

    lead = models.ForeignKey("sales.Lead", on_delete=models.CASCADE, related_name="scores")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="scores")
    role = models.CharField(max_length=10, choices=ScoreRole.choices)
    probability = models.FloatField()
    score = models.PositiveSmallIntegerField()
    tier = models.CharField(max_length=10, choices=Tier.choices)
    reasons = models.JSONField(default=list, blank=True)
    features_hash = models.CharField(max_length=32)
    scored_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-scored_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "role", "-scored_at"], name="leadscore_lead_latest"),
            # A scoring run reads each lead's last features hash by this model, a range of leads at a time.
            models.Index(fields=["model_version", "lead"], name="leadscore_version_lead"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(probability__gte=0) & models.Q(probability__lte=1),
                name="leadscore_probability_range",
            ),
            models.CheckConstraint(condition=models.Q(score__lte=100), name="leadscore_score_range"),
        ]

    def __str__(self) -> str:
        return f"{self.score} ({self.tier}) for lead #{self.lead_id}"


class DriftReport(models.Model):
    """One drift check of recent leads against a model's training reference."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="drift_reports")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    recent_size = models.PositiveIntegerField()
    level = models.CharField(max_length=15, choices=DriftLevel.choices)
    results = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Drift {self.level} for {self.model_version} at {self.created_at:%Y-%m-%d %H:%M}"


class DriftAlert(models.Model):
    """A feature (or the score) whose recent distribution moved past the alert threshold."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="drift_alerts")
    report = models.ForeignKey(DriftReport, on_delete=models.CASCADE, related_name="alerts")
    feature = models.CharField(max_length=100)
    psi = models.FloatField()
    statistic = models.FloatField()
    p_value = models.FloatField()
    status = models.CharField(max_length=15, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "feature"],
                condition=models.Q(status="open"),
                name="drift_one_open_alert_per_feature",
            )
        ]

    def __str__(self) -> str:
        return f"Drift alert on {self.feature} (PSI {self.psi:.2f})"
