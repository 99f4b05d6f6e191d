"""Data: register the periodic tasks once (SLA escalation every minute, drift check daily).

Registered by name with get_or_create, so re-running migrations or starting more workers never
duplicates them.
"""

from django.db import migrations

SCHEDULES = [
    ("approvals: SLA escalation", "approvals.tasks.escalate_overdue_task", "I", 1),
    ("scoring: drift check", "scoring.tasks.drift_check_task", "D", None),
]


def forward(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, schedule_type, minutes in SCHEDULES:
        Schedule.objects.get_or_create(
            name=name,
            defaults={"func": func, "schedule_type": schedule_type, "minutes": minutes, "repeats": -1},
        )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0003_escalation"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
