from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, URLValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from approvals.choices import RiskLevel
from notifications.choices import Channel, LinkDecision, NotificationKind, NotificationStatus

HTTP_URL = URLValidator(schemes=["http", "https"])


class NotificationSettings(models.Model):
    """How approvers are notified: one row, edited in the admin, with history.

    An item is *high priority* when its risk is at least ``high_priority_risk_at_least`` or its
    impact (the larger of the lead's deal value and its account's value) is at least
    ``high_priority_impact_at_least``; an unset condition is ignored, so with both unset nothing is.
    """

    # Always True and unique: the database itself refuses a second settings row.
    singleton = models.BooleanField(default=True, unique=True, editable=False)
    enabled = models.BooleanField(default=True, help_text="Off: nothing is sent at all.")
    email_enabled = models.BooleanField(
        default=True, help_text="Email each approver (needs EMAIL_URL pointing at a mail server)."
    )
    slack_webhook_url = models.URLField(
        max_length=500,
        blank=True,
        validators=[HTTP_URL],
        help_text="Slack-compatible incoming webhook; empty for no channel messages.",
    )
    high_priority_risk_at_least = models.CharField(
        max_length=10,
        choices=RiskLevel.choices,
        blank=True,
        default=RiskLevel.HIGH,
        help_text="New items at least this risky are announced; empty to ignore risk.",
    )
    high_priority_impact_at_least = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="New items whose deal or account value is at least this are announced; empty to ignore.",
    )
    near_sla_minutes = models.PositiveIntegerField(
        default=30, help_text="Warn approvers this many minutes before an item's SLA runs out."
    )
    digest_hour_utc = models.PositiveSmallIntegerField(
        default=8,
        validators=[MaxValueValidator(23)],
        help_text="Hour (UTC) from which the daily digest goes out.",
    )
    email_link_hours = models.PositiveIntegerField(
        default=48,
        help_text="How long the Approve / Reject links in an approver's email work; 0: no links.",
    )
    base_url = models.URLField(
        max_length=300,
        blank=True,
        validators=[HTTP_URL],
        help_text="Start of the links in messages, e.g. https://agentops.example.com; "
        "empty to use the AGENTOPS_BASE_URL setting.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "notification settings"
        verbose_name_plural = "notification settings"
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(singleton=True), name="notification_settings_singleton"),
            models.CheckConstraint(condition=Q(digest_hour_utc__lte=23), name="notification_digest_hour"),
            models.CheckConstraint(
                condition=Q(near_sla_minutes__gt=0), name="notification_near_sla_positive"
            ),
        ]

    def __str__(self) -> str:
        return "Notification settings" + ("" if self.enabled else " (disabled)")

    @property
    def link_base(self) -> str:
        return (self.base_url or settings.AGENTOPS_BASE_URL).rstrip("/")


class Notification(models.Model):
    """One message to one recipient (or to the Slack channel), recorded before it is sent.

    ``dedupe_key`` is unique, so however many workers run the same task, each message is stored,
    and therefore sent, at most once. The stored subject and text are what was (or will be) sent.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
        help_text="Empty for Slack channel messages.",
    )
    address = models.CharField(max_length=254, blank=True, help_text="Email address it was sent to.")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    action = models.ForeignKey(
        "approvals.ProposedAction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
        help_text="Empty for digests.",
    )
    dedupe_key = models.CharField(max_length=200, unique=True)
    batch = models.UUIDField(db_index=True, help_text="The run that claimed it.")
    subject = models.CharField(max_length=250)
    body = models.TextField()
    html = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.SENDING
    )
    error = models.TextField(blank=True)
    retryable = models.BooleanField(default=False, help_text="A failure worth another try.")
    attempts = models.PositiveSmallIntegerField(default=1)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When a retryable failure is tried again."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=[c.value for c in Channel]), name="notification_channel_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in NotificationKind]), name="notification_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in NotificationStatus]),
                name="notification_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status=NotificationStatus.SENT) | Q(sent_at__isnull=False),
                name="notification_sent_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status=NotificationStatus.FAILED) | ~Q(error=""),
                name="notification_failed_has_error",
            ),
        ]

    def __str__(self) -> str:
        to = self.address or self.get_channel_display()
        return f"{self.get_kind_display()} to {to} ({self.status})"


class ApprovalLink(models.Model):
    """One one-click decision link in one approver's email: single use, expiring, and bound to the
    approver, the action, the decision and the hash of the payload the email showed.

    The link carries a signed token (``notifications.link_tokens``) naming this row's ``nonce``;
    the row is what makes it single-use (``used_at``, set in the transaction that decides).
    """

    nonce = models.CharField(max_length=32, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="approval_links"
    )
    action = models.ForeignKey(
        "approvals.ProposedAction", on_delete=models.CASCADE, related_name="approval_links"
    )
    decision = models.CharField(max_length=10, choices=LinkDecision.choices)
    payload_sha256 = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision__in=[d.value for d in LinkDecision]), name="approval_link_decision_valid"
            ),
        ]

    def __str__(self) -> str:
        state = "used" if self.used_at else "unused"
        return f"{self.get_decision_display()} link for #{self.action_id} to user {self.user_id} ({state})"


class SlackChannelRoute(models.Model):
    """Where the Slack cards of one approver group's items go: its channel, or (no channel) a direct
    message to each of the group's members who have a Slack account linked."""

    group = models.OneToOneField("auth.Group", on_delete=models.CASCADE, related_name="slack_route")
    channel_id = models.CharField(
        max_length=30, blank=True, help_text="Slack channel id (C…); empty: a direct message to each member."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group__name"]

    def __str__(self) -> str:
        return f"{self.group} → {self.channel_id or 'direct messages'}"


class SlackUserLink(models.Model):
    """A Slack user acting as an AgentOps user. Made by an admin, or on first use when the Slack
    profile's email is one active user's; used only once ``verified_at`` is set, which the email
    match (``users.info``) sets."""

    slack_user_id = models.CharField(max_length=30, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_links")
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slack_user_id"]

    def __str__(self) -> str:
        return f"Slack {self.slack_user_id} → user {self.user_id}" + (
            "" if self.verified_at else " (unverified)"
        )


class SlackCard(models.Model):
    """One Block Kit card posted about an action, and where, so it is updated in place when anyone
    decides. ``destination`` is what it was posted to (a channel, or a user for a DM); ``channel``
    and ``ts`` are Slack's answer (empty while the post is under way, or if it failed)."""

    action = models.ForeignKey(
        "approvals.ProposedAction", on_delete=models.CASCADE, related_name="slack_cards"
    )
    destination = models.CharField(max_length=30)
    channel = models.CharField(max_length=30, blank=True)
    ts = models.CharField(max_length=30, blank=True)
    error = models.CharField(max_length=500, blank=True)
    batch = models.UUIDField(null=True, blank=True, db_index=True, help_text="The run that claimed it.")
    decided = models.BooleanField(default=False, help_text="The card shows the decision.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["action", "destination"], name="slack_card_once_per_destination")
        ]

    def __str__(self) -> str:
        return f"Slack card for #{self.action_id} in {self.channel or self.destination}"
