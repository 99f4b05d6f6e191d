"""Data: the task settings row (3 attempts, a lease longer than the worker timeout) and the
every-minute reaper of stuck task runs, registered once by name so more workers never duplicate it."""

from django.db import migrations

NAME = "operations: reap stuck task runs"


def forward(apps, schema_editor):
    apps.get_model("operations", "TaskSettings").objects.get_or_create(singleton=True)
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={"func": "operations.tasks.reap_task_runs_task", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()
    apps.get_model("operations", "TaskSettings").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0012_task_run_ledger"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
