"""Data: one change-control row per controllable configuration, off (direct edits) until an admin turns it on."""

from django.db import migrations

LABELS = [
    "sales.Playbook",
    "sales.PlaybookRule",
    "approvals.ApprovalPolicy",
    "operations.AutoPauseRule",
    "operations.Quota",
    "scoring.ModelVersion",
]
SCHEDULE = "operations: apply approved configuration changes"


def forward(apps, schema_editor):
    ChangeControl = apps.get_model("operations", "ChangeControl")
    for label in LABELS:
        ChangeControl.objects.get_or_create(model_label=label)
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=SCHEDULE,
        defaults={"func": "operations.tasks.config_changes_task", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def backward(apps, schema_editor):
    apps.get_model("operations", "ChangeControl").objects.filter(model_label__in=LABELS).delete()
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0006_change_control"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
