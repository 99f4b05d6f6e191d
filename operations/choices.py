from django.db import models


class SwitchScope(models.TextChoices):
    """What a kill switch stops: everything, one connection, one action kind, or one agent."""

    GLOBAL = "global", "Everything"
    CONNECTOR = "connector", "One connection"
    ACTION_KIND = "action_kind", "One action kind"
    AGENT = "agent", "One agent"


class QuotaScope(models.TextChoices):
    """What a quota counts: automated executions of one kind, through one connection, or for one SDR."""

    ACTION_KIND = "action_kind", "Per action kind"
    CONNECTOR = "connector", "Per connection"
    SDR = "sdr", "Per SDR (lead owner)"


class QuotaWindow(models.TextChoices):
    HOUR = "hour", "Per hour"
    DAY = "day", "Per day"
