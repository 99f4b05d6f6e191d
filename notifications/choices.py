from django.db import models


class Channel(models.TextChoices):
    """Where a notification goes: one approver's mailbox, or the team's Slack channel."""

    EMAIL = "email", "Email"
    SLACK = "slack", "Slack webhook"


class NotificationKind(models.TextChoices):
    """Why approvers are told about an item."""

    NEW_HIGH_PRIORITY = "new_high_priority", "New high-priority item"
    NEAR_SLA = "near_sla", "Item near its SLA"
    ESCALATED = "escalated", "Item escalated"
    DIGEST = "digest", "Daily digest"


class NotificationStatus(models.TextChoices):
    """``sending`` is the claim taken before delivery: a row left in it means the worker stopped
    mid-send, and it is never sent again (at most once)."""

    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class LinkDecision(models.TextChoices):
    """What a one-click email link decides."""

    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
