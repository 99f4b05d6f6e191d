from django.db import models


class SwitchScope(models.TextChoices):
    """What a kill switch stops: everything, one connection, one action kind, one agent (its
    executions and the decision callbacks sent to it), every configuration change, or every
    decision callback. The global, configuration-change and callback switches name no target."""

    GLOBAL = "global", "Everything"
    CONNECTOR = "connector", "One connection"
    ACTION_KIND = "action_kind", "One action kind"
    AGENT = "agent", "One agent"
    CONFIG_CHANGES = "config_changes", "Configuration changes (change control)"
    CALLBACKS = "callbacks", "Decision callbacks to integrations"


#: The scopes whose one switch names no target (``operations.gate.UNTARGETED_SCOPES``).
UNTARGETED_SWITCH_SCOPES = (SwitchScope.GLOBAL, SwitchScope.CONFIG_CHANGES, SwitchScope.CALLBACKS)


class QuotaScope(models.TextChoices):
    """What a quota counts: automated executions of one kind, through one connection, or for one SDR."""

    ACTION_KIND = "action_kind", "Per action kind"
    CONNECTOR = "connector", "Per connection"
    SDR = "sdr", "Per SDR (lead owner)"


class QuotaWindow(models.TextChoices):
    HOUR = "hour", "Per hour"
    DAY = "day", "Per day"


class AutoPauseMetric(models.TextChoices):
    """The live metrics an auto-pause rule can watch (``operations.readings`` computes each)."""

    OUTBOUND_ERROR_RATE = "outbound_error_rate", "Outbound error rate (failed call attempts)"
    RATE_LIMITED_SHARE = "rate_limited_share", "Share of outbound calls answered 429"
    REPLY_RATE_DROP = "reply_rate_drop", "Reply rate drop versus baseline"
    MEETING_RATE_DROP = "meeting_rate_drop", "Meeting conversion drop versus baseline"
    CSAT_DROP = "csat_drop", "CSAT (share of 4–5 answers) drop versus baseline"
    DRIFT_ALERTS = "drift_alerts", "Open drift alerts of the acting lead model"


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
