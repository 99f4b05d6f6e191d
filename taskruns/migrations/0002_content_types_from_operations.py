"""Data: the ledger's content types follow its models from ``operations`` to ``taskruns``, so their
permissions (and the groups and users holding them) and the admin's history of them stay as they
were. On a new database there are none yet: ``post_migrate`` creates them under ``taskruns``."""

from django.db import migrations

MODELS = ("taskrun", "tasksettings", "historicaltasksettings")


def _move(apps, source, target):
    content_types = apps.get_model("contenttypes", "ContentType").objects
    for model in MODELS:
        moving = content_types.filter(app_label=source, model=model).first()
        if moving is None:
            continue
        # One made meanwhile under the new label (``post_migrate`` after a partial migrate) holds
        # nothing of the old one's: the old one, with its grants and admin history, wins.
        content_types.filter(app_label=target, model=model).delete()
        moving.app_label = target
        moving.save(update_fields=["app_label"])


def forward(apps, schema_editor):
    _move(apps, "operations", "taskruns")


def backward(apps, schema_editor):
    _move(apps, "taskruns", "operations")


class Migration(migrations.Migration):
    dependencies = [
        ("taskruns", "0001_task_run_ledger_from_operations"),
        ("contenttypes", "0002_remove_content_type_name"),
        # Deleting a content type takes its permissions and admin history with it: both in the state.
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [migrations.RunPython(forward, backward)]
