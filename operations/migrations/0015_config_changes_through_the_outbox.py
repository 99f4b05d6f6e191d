"""Data: approved configuration changes are applied by the outbox (the one executor of every kind,
``connectors.tasks.execute_actions_task``), so their own schedule goes."""

from django.db import migrations

SCHEDULE = "operations: apply approved configuration changes"


def forward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0014_kill_switches_hold_config_changes_and_callbacks"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
