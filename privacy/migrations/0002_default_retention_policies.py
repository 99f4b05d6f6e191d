"""Data: the default retention periods (editable in the admin afterwards; history keeps who changed
what). Only kinds without a policy get one, so a second run or an edited period is left alone."""

from django.db import migrations

DEFAULTS = [
    # kind, days, action, why
    ("inactive_leads", 730, "anonymise", "Two years without any activity: no longer a prospect."),
    ("lead_events", 730, "delete", "Engagement older than two years no longer informs scoring."),
    ("tickets", 1095, "anonymise", "Three years after the last change; counts stay for the metrics."),
    ("webhook_events", 90, "delete", "Raw deliveries are kept for replay and debugging only."),
    ("execution_attempts", 365, "delete", "API call logs: a year for incident reviews."),
    ("bot_runs", 365, "delete", "The bot's handoff summaries quote the customer."),
    ("survey_responses", 730, "anonymise", "Scores stay for CSAT trends; comments go."),
    ("sessions", 0, "delete", "Expired sign-in sessions."),
]


def forward(apps, schema_editor):
    Policy = apps.get_model("privacy", "RetentionPolicy")
    for kind, days, action, notes in DEFAULTS:
        Policy.objects.get_or_create(kind=kind, defaults={"days": days, "action": action, "notes": notes})


def backward(apps, schema_editor):
    apps.get_model("privacy", "RetentionPolicy").objects.filter(kind__in=[d[0] for d in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_consent_retention_requests")]

    operations = [migrations.RunPython(forward, backward)]
