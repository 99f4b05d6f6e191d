"""Data: register the daily retention purge once, by name, so more workers never duplicate it."""

from django.db import migrations

NAME = "privacy: purge expired data"


def forward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={"func": "privacy.tasks.purge_expired_task", "schedule_type": "D", "repeats": -1},
    )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0002_default_retention_policies"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
