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


class DataKind(models.TextChoices):
    """What a retention policy applies to. Consent records and the decision log are never purged:
    they are the proof of what was allowed and done (and the log holds hashes only)."""

    INACTIVE_LEADS = "inactive_leads", "Leads without activity"
    LEAD_EVENTS = "lead_events", "Lead events"
    TICKETS = "tickets", "Tickets"
    WEBHOOK_EVENTS = "webhook_events", "Raw webhook events"
    EXECUTION_ATTEMPTS = "execution_attempts", "Execution attempts (API call logs)"
    BOT_RUNS = "bot_runs", "Support bot runs"
    SURVEY_RESPONSES = "survey_responses", "Survey responses"
    SESSIONS = "sessions", "Expired sign-in sessions"


class RetentionAction(models.TextChoices):
    DELETE = "delete", "Delete"
    ANONYMISE = "anonymise", "Anonymise (keep the row, blank personal values)"


class RequestKind(models.TextChoices):
    ERASURE = "erasure", "Erasure (right to be forgotten)"
    ACCESS = "access", "Access (export what is held)"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"


#: What one withdrawal stops. Cadence channels map onto consent channels (a phone task is a call).
CADENCE_CHANNEL_CONSENT = {
    "email": Channel.EMAIL,
    "sms": Channel.SMS,
    "phone_task": Channel.PHONE,
    "linkedin_task": Channel.LINKEDIN,
}
#: The message kinds the executor sends, and the channel each needs consent for.
MESSAGE_KIND_CHANNEL = {"send_email": Channel.EMAIL, "send_sms": Channel.SMS}

#: What each kind may do after its period. Leads are anonymised, never deleted: approvals,
#: touches and the decision log refer to them. Tickets likewise.
ALLOWED_ACTIONS: dict[str, tuple[str, ...]] = {
    DataKind.INACTIVE_LEADS: (RetentionAction.ANONYMISE.value,),
    DataKind.LEAD_EVENTS: (RetentionAction.DELETE.value,),
    DataKind.TICKETS: (RetentionAction.ANONYMISE.value,),
    DataKind.WEBHOOK_EVENTS: (RetentionAction.DELETE.value,),
    DataKind.EXECUTION_ATTEMPTS: (RetentionAction.DELETE.value,),
    DataKind.BOT_RUNS: (RetentionAction.DELETE.value,),
    DataKind.SURVEY_RESPONSES: (RetentionAction.ANONYMISE.value, RetentionAction.DELETE.value),
    DataKind.SESSIONS: (RetentionAction.DELETE.value,),
}
