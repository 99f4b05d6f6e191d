"""Data: register the cadence tick once (every 5 minutes), by name, so more workers never duplicate it."""

from django.db import migrations

NAME = "sales: cadence tick"


def forward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={"func": "sales.tasks.cadences_tick_task", "schedule_type": "I", "minutes": 5, "repeats": -1},
    )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0004_default_compliance_patterns"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
