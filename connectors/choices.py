from django.db import models


class SourceSystem(models.TextChoices):
    """Where a mirrored record comes from; with its external id it is the record's natural key."""

    SALESFORCE = "salesforce", "Salesforce"
    HUBSPOT = "hubspot", "HubSpot"
    ZENDESK = "zendesk", "Zendesk"
    INTERCOM = "intercom", "Intercom"
    BANK_MARKETING = "bank-marketing", "Bank Marketing import"
    BANKING77 = "banking77", "BANKING77 import"
    DEMO = "demo", "Demo data"
    API = "api", "REST API"


class Vendor(models.TextChoices):
    """A system of record we have a connector for (one per folder under ``connectors/``)."""

    SALESFORCE = "salesforce", "Salesforce"
    HUBSPOT = "hubspot", "HubSpot"
    ZENDESK = "zendesk", "Zendesk"
    INTERCOM = "intercom", "Intercom"
