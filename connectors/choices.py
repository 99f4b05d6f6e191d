from django.db import models


class Vendor(models.TextChoices):
    """A system of record we have a connector for (one per folder under ``connectors/``)."""

    SALESFORCE = "salesforce", "Salesforce"
    HUBSPOT = "hubspot", "HubSpot"
    ZENDESK = "zendesk", "Zendesk"
    INTERCOM = "intercom", "Intercom"
    TWILIO = "twilio", "Twilio (SMS)"
