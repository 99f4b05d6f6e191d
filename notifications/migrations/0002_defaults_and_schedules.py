"""Data: the notification settings row with its defaults, and the periodic tasks.

``notify_pending`` runs every minute. The digest task runs every 15 minutes and sends only from
the digest hour set in the admin (once per approver per day), so changing the hour needs no
schedule change. Both are registered by name with get_or_create, so re-running never duplicates.
"""

from django.db import migrations

SCHEDULES = [
    ("notifications: pending items", "notifications.tasks.notify_pending_task", 1),
    ("notifications: daily digest", "notifications.tasks.send_daily_digest_task", 15),
]


def forward(apps, schema_editor):
    apps.get_model("notifications", "NotificationSettings").objects.get_or_create(singleton=True)
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, minutes in SCHEDULES:
        Schedule.objects.get_or_create(
            name=name, defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1}
        )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()
    apps.get_model("notifications", "NotificationSettings").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
