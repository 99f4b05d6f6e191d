"""Data: run the support bot over new tickets every minute (registered once, by name)."""

from django.db import migrations

NAME = "support: bot over new tickets"


def forward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={"func": "support.tasks.support_bot_run_task", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0005_seed_knowledge_base"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
