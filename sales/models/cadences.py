"""Cadences: message templates, ordered multi-channel steps, enrolments and the touches they make.

Everything a business user tunes (templates, steps and waits, pacing, quiet hours, compliance
patterns) is a row edited in the admin with history. The rules that use them are pure functions in
``sales.cadence``, ``sales.templating`` and ``sales.compliance``; ``sales.cadence_services`` runs them.
"""

from __future__ import annotations

import re
from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from sales.choices import CadenceChannel, EnrolmentStatus, ExitReason, TouchStatus


class MessageTemplate(models.Model):
    """Copy for one cadence step, with ``{{ merge_field }}`` inserts (see ``sales.templating``).

    ``version`` goes up whenever the subject or body changes, and each touch records the version
    it was drafted from; the history table keeps every earlier version's text.
    """

    name = models.CharField(max_length=150, unique=True)
    channel = models.CharField(max_length=20, choices=CadenceChannel.choices)
    subject = models.CharField(max_length=255, blank=True, help_text="Emails only.")
    body = models.TextField(help_text="Merge fields: {{ first_name }}, {{ company }} … see docs/cadences.md.")
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            before = MessageTemplate.objects.filter(pk=self.pk).values_list("subject", "body").first()
            if before is not None and before != (self.subject, self.body):
                self.version += 1
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        from sales.templating import TemplateError, parse

        errors = {}
        for field_name in ("subject", "body"):
            try:
                parse(getattr(self, field_name))
            except TemplateError as exc:
                errors[field_name] = str(exc)
        if self.channel == CadenceChannel.EMAIL and not self.subject.strip():
            errors["subject"] = "an email template needs a subject"
        if errors:
            raise ValidationError(errors)


class Cadence(models.Model):
    """A named, ordered sequence of outreach steps across channels, with waits between them."""

    name = models.CharField(max_length=200, unique=True, help_text="Playbook actions enrol by this name.")
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="Off: no new enrolments and no further steps.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CadenceStep(models.Model):
    """One step of a cadence: ``wait_days`` after the previous step (after enrolment for the first)."""

    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    channel = models.CharField(max_length=20, choices=CadenceChannel.choices)
    wait_days = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(90)])
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="steps")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["cadence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["cadence", "position"], name="cadence_step_unique_position"),
            models.CheckConstraint(condition=Q(position__gte=1), name="cadence_step_position_positive"),
            models.CheckConstraint(condition=Q(wait_days__lte=90), name="cadence_step_wait_at_most_90"),
        ]

    def __str__(self) -> str:
        return f"{self.cadence} · step {self.position} ({self.get_channel_display()})"

    def clean(self) -> None:
        if self.template_id and self.template.channel != self.channel:
            raise ValidationError(
                {"template": f"is a {self.template.channel} template; this step is {self.channel}"}
            )


class SequencingSettings(models.Model):
    """Pacing, quiet hours and sender details for every cadence: one row, edited in the admin."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    max_touches_per_contact = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text="Across every channel and cadence…"
    )
    pacing_window_days = models.PositiveSmallIntegerField(
        default=7, validators=[MinValueValidator(1)], help_text="…within this many days."
    )
    max_new_enrolments_per_sdr_per_day = models.PositiveIntegerField(
        default=40,
        validators=[MinValueValidator(1)],
        help_text="Beyond this, enrolments start on later days.",
    )
    quiet_hours_start = models.TimeField(default=time(20, 0), help_text="Contact's local time.")
    quiet_hours_end = models.TimeField(default=time(8, 0), help_text="Contact's local time.")
    contact_on_weekends = models.BooleanField(default=False)
    completion_wait_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MaxValueValidator(60)],
        help_text="After the last step, wait this long for a reply before the enrolment counts as completed.",
    )
    batch_size = models.PositiveIntegerField(default=500, validators=[MinValueValidator(1)])
    postal_address = models.CharField(
        max_length=300,
        blank=True,
        help_text="Sender's postal address (CAN-SPAM); emails without it are flagged.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "sequencing settings"
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(singleton=True), name="sequencing_settings_singleton"),
            models.CheckConstraint(
                condition=Q(max_touches_per_contact__gte=1), name="sequencing_touches_min"
            ),
            models.CheckConstraint(condition=Q(pacing_window_days__gte=1), name="sequencing_window_min"),
        ]

    def __str__(self) -> str:
        return "Sequencing settings"

    @classmethod
    def current(cls) -> SequencingSettings:
        return cls.objects.get_or_create(singleton=True)[0]


class CompliancePattern(models.Model):
    """A phrase pattern that flags outreach copy for review (``flag`` lands on the proposal)."""

    flag = models.SlugField(max_length=40, help_text="e.g. pricing, contract, regulatory.")
    regex = models.CharField(max_length=500, help_text="Case-insensitive regular expression.")
    description = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["flag", "id"]

    def __str__(self) -> str:
        return f"{self.flag}: {self.regex}"

    def clean(self) -> None:
        try:
            re.compile(self.regex, re.I)
        except re.error as exc:
            raise ValidationError({"regex": f"not a valid regular expression: {exc}"}) from None


class Enrolment(models.Model):
    """A lead working through a cadence; ``next_position`` is the step due at ``next_step_at``."""

    lead = models.ForeignKey("sales.Lead", on_delete=models.CASCADE, related_name="enrolments")
    cadence = models.ForeignKey(Cadence, on_delete=models.PROTECT, related_name="enrolments")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="enrolments"
    )
    source_action = models.OneToOneField(
        "approvals.ProposedAction", null=True, blank=True, on_delete=models.SET_NULL, related_name="enrolment"
    )
    status = models.CharField(max_length=20, choices=EnrolmentStatus.choices, default=EnrolmentStatus.ACTIVE)
    exit_reason = models.CharField(max_length=20, choices=ExitReason.choices, blank=True)
    next_position = models.PositiveSmallIntegerField(default=1)
    next_step_at = models.DateTimeField(null=True, blank=True)
    wait_reason = models.CharField(
        max_length=300, blank=True, help_text="Why the next step waits, if it does."
    )
    enrolled_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-enrolled_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "cadence"],
                condition=Q(status__in=["active", "paused"]),
                name="enrolment_one_open_per_lead_cadence",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "paused"], ended_at__isnull=True)
                | Q(status__in=["completed", "exited"], ended_at__isnull=False),
                name="enrolment_ended_iff_closed",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_step_at"]),
            models.Index(fields=["owner", "enrolled_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} in {self.cadence_id} ({self.status})"


class Touch(models.Model):
    """One step of one enrolment as it happened: drafted, skipped or failed, and what followed.

    Outcome times (reply, meeting, opt-out, bounce) are set on the touch that preceded the signal,
    which is what the per-step metrics count.
    """

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="touches")
    lead = models.ForeignKey("sales.Lead", on_delete=models.CASCADE, related_name="touches")
    step = models.ForeignKey(CadenceStep, on_delete=models.PROTECT, related_name="touches")
    position = models.PositiveSmallIntegerField()
    channel = models.CharField(max_length=20, choices=CadenceChannel.choices)
    status = models.CharField(max_length=20, choices=TouchStatus.choices)
    reason = models.CharField(max_length=500, blank=True)
    action = models.OneToOneField(
        "approvals.ProposedAction", null=True, blank=True, on_delete=models.SET_NULL, related_name="touch"
    )
    template_version = models.PositiveIntegerField(null=True, blank=True)
    compliance_flags = models.JSONField(default=list, blank=True)
    touched_at = models.DateTimeField()
    replied_at = models.DateTimeField(null=True, blank=True)
    meeting_at = models.DateTimeField(null=True, blank=True)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-touched_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["enrolment", "position"], name="touch_once_per_step"),
        ]
        indexes = [models.Index(fields=["lead", "touched_at"])]

    def __str__(self) -> str:
        return f"{self.enrolment_id} step {self.position}: {self.status}"


EXIT_OUTCOME_FIELDS = {
    ExitReason.REPLIED: "replied_at",
    ExitReason.MEETING_BOOKED: "meeting_at",
    ExitReason.OPTED_OUT: "opted_out_at",
    ExitReason.BOUNCED: "bounced_at",
    ExitReason.COMPLAINT: "opted_out_at",
}
