"""Data: register the decision-log sealer to run every minute (the backstop behind sealing on commit).

Registered by name with get_or_create, so re-running migrations or starting more workers never
duplicates it.
"""

from django.db import migrations

NAME = "audit: seal the decision log"


def forward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={"func": "audit.tasks.seal_pending_task", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_audit_seal_append_only"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
