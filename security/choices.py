from django.db import models


class Scope(models.TextChoices):
    """What an API key may do. A key carries only the scopes its integration needs."""

    READ_LEADS = "read_leads", "Read leads"
    WRITE_LEADS = "write_leads", "Create and change leads (bulk upsert)"
    READ_TICKETS = "read_tickets", "Read tickets"
    READ_ACTIONS = "read_actions", "Read proposed actions"
    SUBMIT_ACTIONS = "submit_actions", "Propose actions (and poll the ones it proposed)"
    DECIDE_ACTIONS = "decide_actions", "Approve or reject actions"
    READ_MODELS = "read_models", "Read the model registry"
    WEBHOOKS = "webhooks", "Deliver webhooks"
    EXPORT_AUDIT = "export_audit", "Export the decision log"
