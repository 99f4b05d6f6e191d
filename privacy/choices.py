from django.db import models


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
