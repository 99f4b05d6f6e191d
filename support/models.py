from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from approvals.schemas import PayloadError, validate_payload
from sales.choices import SourceSystem
from security.fields import BlindIndexField, EncryptedEmailField, EncryptedTextField, PersonalDataModel
from support.choices import (
    ArticleStatus,
    BotOutcome,
    FragmentKey,
    ResolvedBy,
    TicketChannel,
    TicketPriority,
    TicketStatus,
)
from support.handoff import LANGUAGE_TAG


class Ticket(PersonalDataModel):
    """A support conversation mirrored from a helpdesk (Zendesk, Intercom) or imported.

    ``intent_label`` is a known, human-given intent (training data such as BANKING77);
    ``predicted_intent`` and ``intent_confidence`` are what the intent model said. The body and the
    requester's name and email are encrypted at rest (``security.fields``); find tickets by email
    through ``requester_email_index`` (``support.selectors.tickets_with_requester_email``).
    """

    source = models.CharField(max_length=20, choices=SourceSystem.choices)
    external_id = models.CharField(max_length=100)
    subject = models.CharField(max_length=300, blank=True)
    body = EncryptedTextField()
    requester_name = EncryptedTextField(max_length=200, blank=True)
    requester_email = EncryptedEmailField(blank=True)
    requester_email_index = BlindIndexField(
        source="requester_email", help_text="Keyed HMAC of the requester's email, for exact lookups."
    )
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
    # For the support metrics (containment, FCR, escalation, handle time): set by the bot, by a
    # person in the admin, or by an import.
    escalated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the ticket was handed to a person (escalation)."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=10, choices=ResolvedBy.choices, blank=True)
    followup_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The requester's first message after the resolution (spoils first-contact resolution "
        "when within the follow-up window).",
    )
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
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True, resolved_by="")
                | (Q(resolved_at__isnull=False) & ~Q(resolved_by="")),
                name="ticket_resolved_at_and_by",
            ),
        ]
        indexes = [models.Index(fields=["status", "priority"])]

    def __str__(self) -> str:
        return self.subject or self.body[:60]

    @property
    def opened_at(self) -> datetime:
        """When the customer opened it: the helpdesk's time, else when we first saw it."""
        return self.source_created_at or self.created_at


class IntentPolicy(models.Model):
    """How the support bot may act on one intent, edited by support leads in the admin (with history).

    The bot answers a ticket on its own only if the intent ``is_safe``, does not ``require_human``,
    and the intent model's confidence is at least ``threshold``; otherwise the ticket is handed off.
    Intents that imply an irreversible or sensitive change (refunds, lost or compromised cards,
    disputes, identity, account closure) are seeded not safe and requiring a human.
    """

    intent = models.CharField(max_length=80, unique=True)
    threshold = models.FloatField(
        default=0.9, help_text="Confidence (0–1) the intent model needs before the bot may answer."
    )
    is_safe = models.BooleanField(
        default=False, help_text="The bot may answer this intent automatically when confident enough."
    )
    requires_human = models.BooleanField(
        default=False, help_text="Always hand off to a person; any write it needs goes through approval."
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["intent"]
        verbose_name_plural = "intent policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold__gte=0) & Q(threshold__lte=1), name="intent_policy_threshold_range"
            ),
            models.CheckConstraint(
                condition=~(Q(is_safe=True) & Q(requires_human=True)),
                name="intent_policy_safe_or_human",
            ),
        ]

    def __str__(self) -> str:
        return self.intent

    def may_auto_answer(self, confidence: float) -> bool:
        """Whether the bot may answer a ticket of this intent predicted with ``confidence``."""
        return self.is_safe and not self.requires_human and confidence >= self.threshold


class Article(models.Model):
    """One version of the knowledge-base article for an intent: what the bot may say about it.

    Written as a draft, then published (``support.services.article_publish``), which retires the
    intent's previously published version; the bot reads only the published version, and every reply
    it drafts names the version (``label``). ``diagnostics`` are the facts the bot must have before it
    answers (asked for with the ``questions`` fragment); ``needs_account_lookup`` makes it read the
    customer's account (read-only) for the reply's merge fields first.
    """

    intent = models.CharField(max_length=80)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT)
    body = models.TextField(blank=True, help_text="The article for people (agents, the help centre).")
    diagnostics = models.JSONField(
        default=list,
        blank=True,
        help_text='Facts needed before answering, e.g. ["card_last4"]; asked for with the questions fragment.',
    )
    needs_account_lookup = models.BooleanField(
        default=False, help_text="Read the customer's account (plan, billing status) before answering."
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["intent", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["intent", "version"], name="article_unique_version"),
            models.UniqueConstraint(
                fields=["intent"],
                condition=Q(status=ArticleStatus.PUBLISHED),
                name="article_one_published_per_intent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.title}"

    @property
    def label(self) -> str:
        """How replies and handoffs name the version they used, e.g. ``card_arrival v2``."""
        return f"{self.intent} v{self.version}"


class ReplyFragment(models.Model):
    """A templated piece of an article version: the answer, or the diagnostic questions.

    Plain text with ``{{ field }}`` merge fields (``support.bot.MERGE_FIELDS``) and nothing else:
    the bot never writes free text. A published article's fragments are frozen (a change is a new
    article version), so a reply's article version says exactly what was sent.
    """

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="fragments")
    key = models.CharField(max_length=20, choices=FragmentKey.choices)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["article", "key"]
        constraints = [
            models.UniqueConstraint(fields=["article", "key"], name="reply_fragment_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.article.label} {self.key}"


class BotRun(models.Model):
    """What the support bot decided for one ticket (once per ticket), and why.

    ``summary`` is the handoff summary (intent, confidence, the words that drove the prediction,
    what the customer asked, diagnostics, suggested reply and article version) for every outcome.
    """

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="bot_run")
    model_version = models.ForeignKey(
        "scoring.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(max_length=20, choices=BotOutcome.choices)
    intent = models.CharField(max_length=80, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    article = models.ForeignKey(Article, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reasons = models.JSONField(default=list)
    summary = models.JSONField(default=dict)
    actions = models.JSONField(default=list, help_text="Ids of the proposed actions, in order.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.outcome}"


class IntentCorrection(models.Model):
    """A support lead's correction of the intent the model predicted for a ticket: a labelled example
    for the next intent training run (``support.selectors.intent_correction_examples``).

    Written by ``support.workspace_services.intent_correction_record`` with its decision-log entry.
    The text is the ticket's own (read through ``ticket``, not copied): an erasure or the retention
    policy that blanks the ticket's body blanks the example too. Append-only: a later correction of
    the same ticket is a new row, and training takes the newest.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="intent_corrections")
    predicted = models.CharField(
        max_length=80, blank=True, help_text="What the intent model said (empty if it never ran)."
    )
    confidence = models.FloatField(null=True, blank=True, help_text="The model's confidence in it.")
    model_version = models.CharField(max_length=120, blank=True, help_text="The model that predicted it.")
    corrected = models.CharField(max_length=80, help_text="The intent the support lead chose.")
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(corrected=""), name="intent_correction_corrected_set"),
        ]
        indexes = [models.Index(fields=["ticket", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.predicted or '—'} → {self.corrected}"


class SurveyResponse(models.Model):
    """The requester's satisfaction survey answer for a ticket (CSAT): 1 (very unhappy) to 5."""

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="survey")
    score = models.PositiveSmallIntegerField()
    comment = EncryptedTextField(blank=True, help_text="The requester's own words: encrypted at rest.")
    responded_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-responded_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=1) & Q(score__lte=5), name="survey_score_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.score}"


class HandoffRoute(models.Model):
    """Where the support bot hands a ticket off to in the helpdesk, edited by support leads in the
    admin (with history). The most specific active route wins (``support.handoff.handoff_route``):
    the intent first, then the team, the language and the helpdesk; its group (a Zendesk group
    id, an Intercom team id) takes the ticket with the priority and tags given here. Without a
    route, the handoff goes to the connection's ``handoff_group_id`` option, if any, and the ticket
    keeps its group otherwise; the summary note goes to the ticket either way."""

    name = models.CharField(max_length=120, unique=True)
    intent = models.CharField(max_length=80, blank=True, help_text="The predicted intent; empty for any.")
    source = models.CharField(
        max_length=20,
        choices=SourceSystem.choices,
        blank=True,
        help_text="The helpdesk the ticket comes from; empty for any.",
    )
    team = models.CharField(
        max_length=100,
        blank=True,
        help_text="The ticket's team (its attributes.team, e.g. Business accounts); empty for any.",
    )
    language = models.CharField(
        max_length=20,
        blank=True,
        help_text="The ticket's language (its attributes.language): pt takes pt and pt-BR; empty for any.",
    )
    group = models.CharField(
        max_length=40, help_text="The helpdesk's id of the group (Zendesk) or team (Intercom) that takes it."
    )
    queue = models.CharField(
        max_length=200, blank=True, help_text="The group's name as people know it (shown on the handoff)."
    )
    assignee = models.CharField(
        max_length=40,
        blank=True,
        help_text="The helpdesk's id of the agent (Zendesk) or teammate (Intercom) who takes it; empty: the group.",
    )
    priority = models.CharField(
        max_length=10,
        blank=True,
        choices=[(p, p.title()) for p in ("low", "normal", "high", "urgent")],
        help_text="Set on the ticket where the helpdesk has priorities (Zendesk); empty keeps it.",
    )
    tags = models.JSONField(default=list, blank=True, help_text='Tags to add (Zendesk), e.g. ["refund"].')
    order = models.PositiveIntegerField(default=100, help_text="Among equally specific routes, lower first.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.tags, list) or not all(isinstance(t, str) for t in self.tags):
            raise ValidationError({"tags": 'a list of tags, e.g. ["refund"]'})
        if self.language and not LANGUAGE_TAG.fullmatch(self.language):
            raise ValidationError({"language": "a language tag, e.g. pt or pt-BR"})
        try:  # what a handoff will carry must pass the handoff's schema
            validate_payload(
                "handoff_to_human",
                {
                    "summary": "-",
                    "group": self.group,
                    "queue": self.queue or "-",
                    "tags": self.tags,
                    **({"assignee": self.assignee} if self.assignee else {}),
                },
            )
        except PayloadError as exc:
            name = exc.field.removeprefix("payload.").split("[")[0]
            raise ValidationError(
                {name if name in ("group", "queue", "tags", "assignee") else "group": exc.reason}
            ) from None


class SupportSettings(models.Model):
    """The support bot's and metrics' settings (one row, edited in the admin, with history)."""

    followup_window_hours = models.PositiveIntegerField(
        default=24,
        help_text="A requester message within this many hours of the resolution spoils first-contact resolution.",
    )
    baseline_start = models.DateField(
        null=True, blank=True, help_text="First day of the pre-automation baseline period."
    )
    baseline_end = models.DateField(
        null=True, blank=True, help_text="Last day of the pre-automation baseline period."
    )
    handoff_queue = models.CharField(
        max_length=200, default="Support leads", help_text="Where the bot hands tickets off to."
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "support settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(baseline_start__isnull=True)
                | Q(baseline_end__isnull=True)
                | Q(baseline_end__gte=models.F("baseline_start")),
                name="support_settings_baseline_order",
            ),
        ]

    def __str__(self) -> str:
        return "Support settings"

    @classmethod
    def current(cls) -> SupportSettings:
        """The one settings row (defaults until someone saves it)."""
        return cls.objects.order_by("pk").first() or cls()
