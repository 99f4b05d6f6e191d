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
