"""Configured connections to systems of record: where a vendor account lives and how to reach it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from approvals.choices import ActionKind
from connectors import crypto
from connectors.base import ConnectionConfig
from connectors.choices import Vendor
from connectors.outcomes import OutcomeRules
from security.fields import EncryptedJSONField, EncryptedTextField

MIN_TIMEOUT_SECONDS = 0.1
MAX_TIMEOUT_SECONDS = 120.0


class Connection(models.Model):
    """One account at one vendor (Salesforce org, HubSpot portal …) that connectors act on.

    ``base_url`` may point anywhere, which is how tests and the demo target the sandbox.
    ``credentials_encrypted`` holds the vendor secrets (token …) as a Fernet token (see
    ``connectors.crypto``); read them with ``credentials`` and set them with ``set_credentials``.
    Read-only is the default: the connection may write only the action kinds in ``write_scopes``.
    The history keeps every change except the secret.
    """

    name = models.CharField(max_length=100, unique=True)
    vendor = models.CharField(max_length=20, choices=Vendor.choices)
    base_url = models.URLField(max_length=500, help_text="API base URL, e.g. https://api.hubapi.com")
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    timeout_seconds = models.FloatField(
        default=10.0,
        validators=[MinValueValidator(MIN_TIMEOUT_SECONDS), MaxValueValidator(MAX_TIMEOUT_SECONDS)],
        help_text="Timeout of every call to the vendor, in seconds.",
    )
    options = models.JSONField(
        default=dict, blank=True, help_text="Vendor options that are not secret (external id field …)."
    )
    write_scopes = models.JSONField(
        default=list, blank=True, help_text="Action kinds this connection may write; empty is read-only."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["credentials_encrypted"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(vendor__in=Vendor.values), name="connection_vendor_known"
            ),
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gte=MIN_TIMEOUT_SECONDS)
                & models.Q(timeout_seconds__lte=MAX_TIMEOUT_SECONDS),
                name="connection_timeout_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_vendor_display()})"

    # Credentials ---------------------------------------------------------------------------------
    @property
    def credentials(self) -> dict[str, str]:
        """The decrypted secrets; ``crypto.DecryptionError`` if no configured key can read them."""
        if not self.credentials_encrypted:
            return {}
        return dict(json.loads(crypto.decrypt(self.credentials_encrypted)))

    def set_credentials(self, credentials: Mapping[str, str]) -> None:
        """Encrypt ``credentials`` into the model (saved with the next ``save``)."""
        clean = {str(k): str(v) for k, v in credentials.items()}
        self.credentials_encrypted = crypto.encrypt(json.dumps(clean, sort_keys=True)) if clean else ""

    def masked_credentials(self) -> str:
        """Which secrets are set, never their values: ``access_token: ••••••••``."""
        if not self.credentials_encrypted:
            return "—"
        try:
            names = sorted(self.credentials)
        except crypto.DecryptionError:
            return "(cannot be decrypted with the configured keys)"
        return ", ".join(f"{name}: ••••••••" for name in names)

    # Use -----------------------------------------------------------------------------------------
    def may_write(self, action_kind: str) -> bool:
        """Whether this connection was granted writes of ``action_kind`` (and is active)."""
        return self.is_active and action_kind in self.write_scopes

    def config(self) -> ConnectionConfig:
        """What a connector needs, with the secrets decrypted (never log it)."""
        return ConnectionConfig(
            vendor=self.vendor,
            base_url=self.base_url,
            credentials=self.credentials,
            timeout_seconds=self.timeout_seconds,
            options=dict(self.options or {}),
        )

    def clean(self) -> None:
        super().clean()
        errors: dict[str, Any] = {}
        scopes = self.write_scopes
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            errors["write_scopes"] = 'A list of action kinds, e.g. ["create_task"].'
        else:
            unknown = sorted(set(scopes) - set(ActionKind.values))
            if unknown:
                errors["write_scopes"] = f"Unknown action kinds: {', '.join(unknown)}."
            elif len(set(scopes)) != len(scopes):
                errors["write_scopes"] = "Each action kind once."
        if not isinstance(self.options, dict):
            errors["options"] = "A JSON object."
        if errors:
            raise ValidationError(errors)


class ThrottleState(models.Model):
    """A connection's circuit breaker or rate-limit window, shared by every worker process.

    Written only through ``connectors.throttle.DatabaseStore`` under a row lock; ``data`` is the
    JSON of ``resilience.BreakerState`` or ``resilience.WindowState``. Used when there is no Redis.
    """

    key = models.CharField(max_length=200, unique=True)
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


# Inbound: webhooks, sync, field ownership ---------------------------------------------------------
class InboundChannel(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    SYNC = "sync", "Incremental sync"


class InboundStatus(models.TextChoices):
    RECEIVED = "received", "Received (not processed yet)"
    PROCESSED = "processed", "Processed"
    IGNORED_STALE = "ignored_stale", "Ignored: older than what we hold"
    IGNORED = "ignored", "Ignored: nothing of ours to update"
    FAILED = "failed", "Failed"


class WebhookEvent(models.Model):
    """One change a vendor told us about, stored raw before any processing (``connectors.inbound``).

    A webhook delivery may carry several events (HubSpot arrays, Salesforce notifications); the
    incremental sync stores each changed record it reads the same way (``channel`` sync), so both
    paths are processed by one service. ``(connection, event_id)`` is unique: a repeated delivery
    is acknowledged and counted in ``deliveries``, never stored twice. ``payload`` is the record as
    the vendor shapes it (empty when the vendor only says what changed, as HubSpot does).
    ``payload`` and ``raw_body`` are encrypted at rest: they carry the people's emails and phones.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="inbound_events")
    vendor = models.CharField(max_length=20, choices=Vendor.choices)
    channel = models.CharField(max_length=10, choices=InboundChannel.choices, default=InboundChannel.WEBHOOK)
    event_id = models.CharField(max_length=200)
    topic = models.CharField(max_length=100, blank=True)
    entity_kind = models.CharField(max_length=20, blank=True, help_text="Our kind: lead, ticket …")
    entity_id = models.CharField(max_length=100, blank=True, help_text="The vendor's id of the record.")
    source_modified_at = models.DateTimeField(null=True, blank=True)
    payload = EncryptedJSONField(default=dict, blank=True)
    raw_body = EncryptedTextField(blank=True)
    fingerprint = models.CharField(
        max_length=64,
        help_text="Hash of what the event says changed; an id reused for another change is refused.",
    )
    status = models.CharField(max_length=20, choices=InboundStatus.choices, default=InboundStatus.RECEIVED)
    deliveries = models.PositiveIntegerField(default=1)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "event_id"], name="webhook_event_unique_id"),
            models.CheckConstraint(
                condition=models.Q(status__in=InboundStatus.values), name="webhook_event_status_known"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "connection", "received_at"]),
            models.Index(fields=["connection", "entity_kind", "entity_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.event_id} ({self.status})"


class FieldOwner(models.TextChoices):
    CRM = "crm", "CRM (Salesforce, HubSpot)"
    HELPDESK = "helpdesk", "Helpdesk (Zendesk, Intercom)"
    AGENTOPS = "agentops", "AgentOps"


class OwnershipRule(models.TextChoices):
    OWNER_WINS = "owner_wins", "The owner's value wins"
    MOST_RESTRICTIVE = "most_restrictive", "The most restrictive value wins (an opt-out from any side)"


class FieldOwnership(models.Model):
    """Which system owns one field of our mirrored records, deciding an inbound change to it.

    When the vendor owns the field, its change is applied. When AgentOps owns it and our value
    differs, ours is kept and a ``SyncConflict`` records both. ``most_restrictive`` (consent)
    applies an opt-out from either side and never lets an inbound change lift ours.
    A field without a row belongs to the system the record comes from.
    """

    record_kind = models.CharField(max_length=20, help_text="lead, account or ticket")
    field_name = models.CharField(max_length=100)
    owner = models.CharField(max_length=20, choices=FieldOwner.choices)
    rule = models.CharField(max_length=20, choices=OwnershipRule.choices, default=OwnershipRule.OWNER_WINS)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["record_kind", "field_name"]
        verbose_name_plural = "field ownership"
        constraints = [
            models.UniqueConstraint(fields=["record_kind", "field_name"], name="field_ownership_unique"),
            models.CheckConstraint(
                condition=models.Q(owner__in=FieldOwner.values), name="field_ownership_owner_known"
            ),
            models.CheckConstraint(
                condition=models.Q(rule__in=OwnershipRule.values), name="field_ownership_rule_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_kind}.{self.field_name}: {self.owner}"


class SyncConflict(models.Model):
    """An inbound change to a field another system owns: both values (encrypted at rest, since the
    field may be an email or a phone), and which one was kept."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sync_conflicts")
    event = models.ForeignKey(
        WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="conflicts"
    )
    record_kind = models.CharField(max_length=20)
    record_id = models.BigIntegerField(help_text="Our record's id.")
    vendor_id = models.CharField(max_length=100)
    field_name = models.CharField(max_length=100)
    ours = EncryptedJSONField(null=True, blank=True)
    theirs = EncryptedJSONField(null=True, blank=True)
    kept = models.CharField(max_length=10, choices=[("ours", "Ours"), ("theirs", "Theirs")])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["record_kind", "record_id"])]

    def __str__(self) -> str:
        return f"{self.record_kind} {self.record_id}.{self.field_name}: kept {self.kept}"


class SyncCursor(models.Model):
    """Where the incremental sync of one kind of record from one connection has got to."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sync_cursors")
    kind = models.CharField(max_length=20)
    since = models.DateTimeField(null=True, blank=True, help_text="Newest modification time read so far.")
    cursor = models.CharField(max_length=2000, blank=True, help_text="The vendor's page cursor mid-run.")
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "kind"], name="sync_cursor_unique_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.connection.name} {self.kind} since {self.since}"


def _text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


class OutcomeMapping(models.Model):
    """Which CRM field and values mean a lead converted or was lost, and which field is its deal value.

    Admin data with history, read by the inbound path (webhooks and the incremental sync) for every
    CRM lead record it applies: a lead's outcome (the lead model's training label), its time and its
    deal value come from the CRM this way, never from an agent. A row without a connection is its
    vendor's default (seeded by a migration); a connection's own row replaces it for that connection.
    """

    vendor = models.CharField(max_length=20, choices=Vendor.choices)
    connection = models.OneToOneField(
        Connection,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="outcome_mapping",
        help_text="Empty: the default for every connection of the vendor without a mapping of its own.",
    )
    converted_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="CRM field that says converted, e.g. IsConverted or lifecyclestage.",
    )
    converted_values = models.JSONField(
        default=list, blank=True, help_text='Its values meaning converted, e.g. ["true"] or ["customer"].'
    )
    converted_time_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="CRM field holding when it converted (ConvertedDate …); empty: the record's modification time.",
    )
    lost_field = models.CharField(
        max_length=100, blank=True, help_text="CRM field that says lost, e.g. Status."
    )
    lost_values = models.JSONField(
        default=list, blank=True, help_text='Its values meaning lost, e.g. ["Closed - Not Converted"].'
    )
    lost_time_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="CRM field holding when it was lost; empty: the modification time.",
    )
    deal_value_field = models.CharField(
        max_length=100, blank=True, help_text="CRM field holding the deal value (an amount); empty: none."
    )
    # The same rules for the CRM's deal records (HubSpot deals, Salesforce opportunities), applied to
    # the lead each deal is associated with (connectors.signals).
    deal_won_field = models.CharField(
        max_length=100, blank=True, help_text="Deal field that says won, e.g. IsWon or hs_is_closed_won."
    )
    deal_won_values = models.JSONField(
        default=list, blank=True, help_text='Its values meaning won (the lead converted), e.g. ["true"].'
    )
    deal_won_time_field = models.CharField(
        max_length=100, blank=True, help_text="Deal field holding when (CloseDate, closedate …)."
    )
    deal_lost_field = models.CharField(
        max_length=100, blank=True, help_text="Deal field that says lost, e.g. IsClosed or hs_is_closed_lost."
    )
    deal_lost_values = models.JSONField(
        default=list, blank=True, help_text='Its values meaning lost, e.g. ["true"] (won is read first).'
    )
    deal_lost_time_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="Deal field holding when it was lost; empty: the modification time.",
    )
    deal_amount_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="Deal field whose amount becomes the lead's deal value (Amount, amount).",
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["vendor", "connection__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["vendor"],
                condition=models.Q(connection__isnull=True),
                name="outcome_mapping_one_default_per_vendor",
            ),
            models.CheckConstraint(
                condition=models.Q(vendor__in=[Vendor.SALESFORCE, Vendor.HUBSPOT]),
                name="outcome_mapping_vendor_is_a_crm",
            ),
        ]

    def __str__(self) -> str:
        whose = self.connection.name if self.connection else f"{self.get_vendor_display()} default"
        return f"Outcome mapping: {whose}"

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        if self.vendor not in (Vendor.SALESFORCE, Vendor.HUBSPOT):
            errors["vendor"] = "Outcomes are mapped for CRMs only (Salesforce, HubSpot)."
        connection = self.connection if self.connection_id else None
        if connection is not None and connection.vendor != self.vendor:
            errors["connection"] = f"The connection is a {connection.vendor} one, not {self.vendor}."
        for field, values in (
            ("converted", self.converted_values),
            ("lost", self.lost_values),
            ("deal_won", self.deal_won_values),
            ("deal_lost", self.deal_lost_values),
        ):
            if not _text_list(values):
                errors[f"{field}_values"] = 'A JSON list of non-empty strings, e.g. ["customer"].'
            elif bool(getattr(self, f"{field}_field")) != bool(values):
                errors[f"{field}_values"] = f"Give both the {field} field and its values, or neither."
        if errors:
            raise ValidationError(errors)

    def rules(self) -> OutcomeRules:
        """The mapping as the pure rules ``connectors.outcomes`` applies."""
        return OutcomeRules(
            converted_field=self.converted_field,
            converted_values=tuple(self.converted_values if _text_list(self.converted_values) else ()),
            converted_time_field=self.converted_time_field,
            lost_field=self.lost_field,
            lost_values=tuple(self.lost_values if _text_list(self.lost_values) else ()),
            lost_time_field=self.lost_time_field,
            deal_value_field=self.deal_value_field,
        )

    def deal_rules(self) -> OutcomeRules:
        """The deal rules as the same pure rules: won reads as converted, lost as lost."""
        return OutcomeRules(
            converted_field=self.deal_won_field,
            converted_values=tuple(self.deal_won_values if _text_list(self.deal_won_values) else ()),
            converted_time_field=self.deal_won_time_field,
            lost_field=self.deal_lost_field,
            lost_values=tuple(self.deal_lost_values if _text_list(self.deal_lost_values) else ()),
            lost_time_field=self.deal_lost_time_field,
            deal_value_field=self.deal_amount_field,
        )


# Outbound execution: routes, the execution state of each action, and its attempts -----------------
class ActionRoute(models.Model):
    """Which connection executes approved actions of one kind (and, optionally, one domain).

    Admin data with history. An action is routed by its kind and domain; a route without a domain
    covers every domain of its kind. The connection must also hold the kind in its write scopes,
    or the action fails with a clear reason: a route alone never grants a write.
    Kinds AgentOps executes itself (``approvals.executors``) take no route.
    """

    # No choices here: a new action kind must not need a migration of this table (see ``clean``).
    kind = models.CharField(max_length=30, help_text="An action kind, e.g. create_task.")
    domain = models.CharField(max_length=20, blank=True, help_text="sales or support; empty for any.")
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="routes")
    is_active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "domain"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "domain"], name="action_route_unique_kind_domain"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}{f' ({self.domain})' if self.domain else ''} → {self.connection.name}"

    def clean(self) -> None:
        super().clean()
        if self.kind not in ActionKind.values:
            raise ValidationError({"kind": f"Unknown action kind {self.kind!r}."})


class ActionExecution(models.Model):
    """Where the execution of one approved action stands: its lease, next try, hold and last error.

    A worker claims the row (``lease_until``/``lease_token``) before touching the action and gives
    it back after one attempt, so a worker killed mid-call leaves a lease that simply expires.
    ``check_first`` is set after an attempt whose outcome is unknown (timeout, dropped connection,
    5xx): the next attempt asks the vendor whether the earlier one took effect before writing.
    ``hold_reason`` says why the action is waiting (kill switch, quota, open breaker).
    """

    action = models.OneToOneField(
        "approvals.ProposedAction", on_delete=models.CASCADE, related_name="execution"
    )
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.PROTECT, related_name="executions"
    )
    done = models.BooleanField(default=False, help_text="Executed, failed or cancelled: nothing left to do.")
    due_at = models.DateTimeField(help_text="When the next attempt may start.")
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    budget_start = models.PositiveIntegerField(
        default=0, help_text="Attempts made before the last retry by a person; the budget counts from here."
    )
    check_first = models.BooleanField(default=False)
    hold_reason = models.CharField(max_length=500, blank=True)
    last_error = models.TextField(blank=True)
    last_error_code = models.CharField(max_length=30, blank=True)
    vendor_id = models.CharField(
        max_length=100, blank=True, help_text="The record the write made or changed."
    )
    delivery_status = models.CharField(
        max_length=40,
        blank=True,
        help_text="A text message's latest delivery receipt from its provider (delivered, failed 30005 …).",
    )
    recipient_index = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="Keyed HMAC of the number a text message went to (E.164), so a reply finds its lead.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["done", "due_at"], name="execution_due")]

    def __str__(self) -> str:
        return f"execution of action #{self.action_id}"


class AttemptOutcome(models.TextChoices):
    PENDING = "pending", "Started, no outcome recorded (the worker died)"
    OK = "ok", "Succeeded"
    FOUND = "found", "An earlier attempt had taken effect"
    ERROR = "error", "Failed without effect"
    UNKNOWN = "unknown", "Outcome unknown (timeout, dropped connection, 5xx)"


class ExecutionAttempt(models.Model):
    """One attempt at executing an action: a row before the call, its outcome after it."""

    action = models.ForeignKey(
        "approvals.ProposedAction", on_delete=models.CASCADE, related_name="execution_attempts"
    )
    number = models.PositiveIntegerField()
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    operation = models.CharField(max_length=50)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.PENDING)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=30, blank=True)
    error = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    correlation_id = models.UUIDField(null=True, blank=True)
    vendor_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["action", "number"]
        constraints = [
            models.UniqueConstraint(fields=["action", "number"], name="execution_attempt_unique_number"),
            models.CheckConstraint(
                condition=models.Q(outcome__in=AttemptOutcome.values), name="execution_attempt_outcome_known"
            ),
        ]

    def __str__(self) -> str:
        return f"action #{self.action_id} attempt {self.number}: {self.outcome}"
