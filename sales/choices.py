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


class CompanySizeBand(models.TextChoices):
    TINY = "1-10", "1–10"
    SMALL = "11-50", "11–50"
    MEDIUM = "51-200", "51–200"
    LARGE = "201-1000", "201–1000"
    ENTERPRISE = "1001+", "1001+"
