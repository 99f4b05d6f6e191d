"""Data: run the outbound executor every minute (``connectors.tasks.execute_actions_task``).

Each run executes what is due and returns when nothing more comes due within a second; held work
(kill switch, quota, backoff) is picked up by a later run. Registered by name with get_or_create,
so re-running never duplicates it.
"""

from django.db import migrations

NAME = "connectors: execute approved actions"


def forward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={
            "func": "connectors.tasks.execute_actions_task",
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
        },
    )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0005_outbound_execution"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
