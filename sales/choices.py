from django.db import models


class LeadStatus(models.TextChoices):
    NEW = "new", "New (uncontacted)"
    CONTACTED = "contacted", "Contacted"
    NURTURING = "nurturing", "Nurturing"
    QUALIFIED = "qualified", "Qualified"
    CONVERTED = "converted", "Converted"
    DISQUALIFIED = "disqualified", "Disqualified"


class ConsentState(models.TextChoices):
    """Whether we may contact the person; outreach is only ever sent with GRANTED."""

    UNKNOWN = "unknown", "Unknown"
    GRANTED = "granted", "Granted"
    OPTED_OUT = "opted_out", "Opted out"


class Outcome(models.TextChoices):
    """The known result of a lead, the label that training learns from."""

    UNKNOWN = "unknown", "Unknown"
    CONVERTED = "converted", "Converted"
    NOT_CONVERTED = "not_converted", "Not converted"


class LeadProducer(models.TextChoices):
    """Who writes a batch of leads, which decides the fields it may set (``sales.lead_rows``).

    The bulk API is what an agent holds: it never sets a field oversight decides on. The CRM sync
    is the one producer of those (owner, deal value, outcome); consent is the consent API's.
    """

    API = "api", "Bulk API (an integration or agent)"
    CRM_SYNC = "crm_sync", "CRM sync (webhooks and polling)"
    IMPORT = "import", "File import or seed run by staff"


class LeadEventKind(models.TextChoices):
    EMAIL_OPEN = "email_open", "Email opened"
    EMAIL_CLICK = "email_click", "Email link clicked"
    EMAIL_REPLY = "email_reply", "Email replied"
    WEB_VISIT = "web_visit", "Web visit"
    PRICING_VISIT = "pricing_visit", "Pricing page visit"
    CONTENT_DOWNLOAD = "content_download", "Content downloaded"
    WEBINAR = "webinar", "Webinar attended"
    DEMO_REQUEST = "demo_request", "Demo requested"
    INTENT_SIGNAL = "intent_signal", "Third-party intent signal"
    MEETING_BOOKED = "meeting_booked", "Meeting booked"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed / opted out"
    EMAIL_BOUNCE = "email_bounce", "Email bounced"
    SPAM_COMPLAINT = "spam_complaint", "Marked as spam (complaint)"
    # Logged in a CRM by the SDR or its mailbox/calendar integration (connectors.signals).
    EMAIL_SENT = "email_sent", "Email sent"
    CALL_LOGGED = "call_logged", "Call logged"
    DEAL_STAGE = "deal_stage", "Deal stage changed"
    DEAL_WON = "deal_won", "Deal won"
    DEAL_LOST = "deal_lost", "Deal lost"


class CompanySizeBand(models.TextChoices):
    TINY = "1-10", "1–10"
    SMALL = "11-50", "11–50"
    MEDIUM = "51-200", "51–200"
    LARGE = "201-1000", "201–1000"
    ENTERPRISE = "1001+", "1001+"


class CadenceChannel(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE_TASK = "phone_task", "Phone call (task for the SDR)"
    LINKEDIN_TASK = "linkedin_task", "LinkedIn (task for the SDR)"
    SMS = "sms", "SMS"


class EnrolmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"


class ExitReason(models.TextChoices):
    """Why an enrolment ended early; the first five are engagement signals (``sales.cadence``)."""

    REPLIED = "replied", "Contact replied"
    MEETING_BOOKED = "meeting_booked", "Meeting booked"
    OPTED_OUT = "opted_out", "Contact opted out"
    BOUNCED = "bounced", "Email bounced"
    COMPLAINT = "complaint", "Spam complaint"
    MANUAL = "manual", "Stopped by a person"


class TouchStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed (awaiting policy or approval)"
    SENT = "sent", "Sent / done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed (template error)"
    CANCELLED = "cancelled", "Cancelled"


class ExperimentArm(models.TextChoices):
    TREATMENT = "treatment", "Treatment (playbook acts)"
    CONTROL = "control", "Control (held out)"


#: Lead events that end a cadence, and the exit reason each gives.
EXIT_EVENT_KINDS: dict[str, str] = {
    LeadEventKind.EMAIL_REPLY: ExitReason.REPLIED,
    LeadEventKind.MEETING_BOOKED: ExitReason.MEETING_BOOKED,
    LeadEventKind.UNSUBSCRIBED: ExitReason.OPTED_OUT,
    LeadEventKind.EMAIL_BOUNCE: ExitReason.BOUNCED,
    LeadEventKind.SPAM_COMPLAINT: ExitReason.COMPLAINT,
}


class SourceSystem(models.TextChoices):
    """Where a lead or ticket comes from (a connector's vendor, an import, the API); with its external id
    it is the record's natural key. Kept here, the lowest app with such records, so support imports it
    downwards instead of from connectors."""

    SALESFORCE = "salesforce", "Salesforce"
    HUBSPOT = "hubspot", "HubSpot"
    ZENDESK = "zendesk", "Zendesk"
    INTERCOM = "intercom", "Intercom"
    BANK_MARKETING = "bank-marketing", "Bank Marketing import"
    BANKING77 = "banking77", "BANKING77 import"
    DEMO = "demo", "Demo data"
    API = "api", "REST API"
