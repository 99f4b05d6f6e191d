from django.db import models


class ModelKind(models.TextChoices):
    LEAD_SCORE = "lead_score", "Lead score"
    INTENT = "intent", "Support intent"


class ModelStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    SHADOW = "shadow", "Shadow"
    CANARY = "canary", "Canary"
    CHAMPION = "champion", "Champion"
    RETIRED = "retired", "Retired"


class ScoreRole(models.TextChoices):
    """Which model produced a score and whether it acts on the lead."""

    CHAMPION = "champion", "Champion (acts)"
    CANARY = "canary", "Canary (acts on its share)"
    SHADOW = "shadow", "Shadow (logged only)"


class Tier(models.TextChoices):
    HOT = "hot", "Hot"
    WARM = "warm", "Warm"
    COLD = "cold", "Cold"


class DriftLevel(models.TextChoices):
    OK = "ok", "OK"
    WARN = "warn", "Warning"
    ALERT = "alert", "Alert"
    INSUFFICIENT = "insufficient", "Too few recent leads"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
