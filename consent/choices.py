"""The consent registry's vocabulary: channels, statuses, lawful bases and sources."""

from django.db import models


class Channel(models.TextChoices):
    """The ways we may reach a person; consent is given or withdrawn per channel."""

    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PHONE = "phone", "Phone"
    LINKEDIN = "linkedin", "LinkedIn"


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", "Granted"
    WITHDRAWN = "withdrawn", "Withdrawn"


class LawfulBasis(models.TextChoices):
    """GDPR article 6 bases for processing."""

    CONSENT = "consent", "Consent"
    LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest"
    CONTRACT = "contract", "Contract"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"
    VITAL_INTEREST = "vital_interest", "Vital interest"
    PUBLIC_TASK = "public_task", "Public task"


class ConsentSource(models.TextChoices):
    """Where a consent change came from; webhooks add the vendor: ``webhook:hubspot``."""

    FORM = "form", "Web form"
    IMPORT = "import", "Import"
    API = "api", "API"
    WEBHOOK = "webhook", "CRM webhook"
    ADMIN = "admin", "Admin"
    REPLY_UNSUBSCRIBE = "reply-unsubscribe", "Unsubscribe reply"
    ERASURE = "erasure", "Erasure request (suppression)"


#: What one withdrawal stops. Cadence channels map onto consent channels (a phone task is a call).
CADENCE_CHANNEL_CONSENT = {
    "email": Channel.EMAIL,
    "sms": Channel.SMS,
    "phone_task": Channel.PHONE,
    "linkedin_task": Channel.LINKEDIN,
}
#: The message kinds the executor sends, and the channel each needs consent for.
MESSAGE_KIND_CHANNEL = {"send_email": Channel.EMAIL, "send_sms": Channel.SMS}
