from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from simple_history.models import HistoricalRecords

from sales.choices import CompanySizeBand, ConsentState, LeadEventKind, LeadStatus, Outcome, SourceSystem
from security.fields import BlindIndexField, EncryptedEmailField, EncryptedTextField, PersonalDataModel


class Account(models.Model):
    """A company that leads belong to, mirrored from the CRM (firmographics live here).

    ``(source, external_id)`` is the natural key (a HubSpot company's or Salesforce Account's id);
    ``source_modified_at`` orders inbound changes as it does for leads (``sales.account_services``).
    """

    source = models.CharField(max_length=20, choices=SourceSystem.choices)
    external_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=200, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    size_band = models.CharField(max_length=10, choices=CompanySizeBand.choices, blank=True)
    annual_revenue = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    region = models.CharField(max_length=50, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2.")
    account_value = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, help_text="Annual contract value if a customer."
    )
    attributes = models.JSONField(default=dict, blank=True)
    source_modified_at = models.DateTimeField(
        null=True, blank=True, help_text="Last modification time in the source system."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="account_unique_external_id"),
            models.CheckConstraint(condition=Q(account_value__gte=0), name="account_value_non_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class Lead(PersonalDataModel):
    """A person the SDR agent may work, mirrored from a CRM or imported.

    ``(source, external_id)`` is the natural key every upsert uses. The ids the record has in
    each CRM are kept separately, since one lead may be mirrored to Salesforce and HubSpot alike.
    Any CRM field without a column of its own lives in ``attributes``, which is where feature
    specs read from, so a new CRM field can become a scoring feature without a migration.
    ``email`` and ``phone`` are encrypted at rest (``security.fields``); find a lead by email
    through ``email_index`` (``sales.selectors.leads_with_email``).
    """

    source = models.CharField(max_length=20, choices=SourceSystem.choices)
    external_id = models.CharField(max_length=100)
    salesforce_id = models.CharField(max_length=18, null=True, blank=True)
    hubspot_id = models.CharField(max_length=32, null=True, blank=True)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = EncryptedEmailField(blank=True)
    email_index = BlindIndexField(source="email", help_text="Keyed HMAC of the email, for exact lookups.")
    phone = EncryptedTextField(max_length=40, blank=True)
    title = models.CharField(max_length=150, blank=True)
    company_name = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
    )
    status = models.CharField(max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW)
    consent_state = models.CharField(
        max_length=20, choices=ConsentState.choices, default=ConsentState.UNKNOWN
    )
    has_open_opportunity = models.BooleanField(default=False)
    deal_value = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, help_text="Estimated deal value."
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.UNKNOWN)
    outcome_at = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    source_modified_at = models.DateTimeField(
        null=True, blank=True, help_text="Last modification time in the source system."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="lead_unique_external_id"),
            models.UniqueConstraint(
                fields=["salesforce_id"],
                condition=Q(salesforce_id__isnull=False),
                name="lead_unique_salesforce_id",
            ),
            models.UniqueConstraint(
                fields=["hubspot_id"],
                condition=Q(hubspot_id__isnull=False),
                name="lead_unique_hubspot_id",
            ),
            models.CheckConstraint(
                condition=Q(deal_value__isnull=True) | Q(deal_value__gte=0),
                name="lead_deal_value_non_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["status"]),
            models.Index(fields=["owner", "status"]),
            # The CRM id of the account a lead waits for (sales.account_services): an arriving
            # account finds its leads by it without reading every lead's attributes.
            *(
                models.Index(
                    KeyTextTransform(f"{source}_account_id", "attributes"), name=f"lead_{source}_account_ref"
                )
                for source in ("hubspot", "salesforce")
            ),
            # What a converted Salesforce lead became (connectors.engagement): its contact's and
            # opportunity's calls, meetings and deals find the lead by them.
            *(
                models.Index(
                    KeyTextTransform(f"salesforce_{what}_id", "attributes"), name=f"lead_sf_{what}_ref"
                )
                for what in ("contact", "opportunity")
            ),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or f"{self.source}:{self.external_id}"

    @property
    def display_name(self) -> str:
        return str(self)


class LeadEvent(models.Model):
    """An engagement or intent event of a lead (email opened, pricing page visit, intent signal)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=LeadEventKind.choices)
    occurred_at = models.DateTimeField()
    external_id = models.CharField(max_length=100, help_text="Event id in the source system.")
    properties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lead", "external_id"], name="lead_event_unique_external_id"),
        ]
        indexes = [models.Index(fields=["lead", "kind", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d}"


class SdrQueue(models.Model):
    """A named queue of SDRs that the SDR agent can assign leads to (configuration, with history)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="sdr_queues")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[members])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
