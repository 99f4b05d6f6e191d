"""The task-run ledger's models leave operations for the ``taskruns`` app (issue 21). State only: the
tables stay where they are, now owned by ``taskruns`` 0001."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0016_kill_switch_plural"),
        ("taskruns", "0001_task_run_ledger_from_operations"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(model_name="historicaltasksettings", name="history_user"),
                migrations.DeleteModel(name="TaskRun"),
                migrations.DeleteModel(name="TaskSettings"),
                migrations.DeleteModel(name="HistoricalTaskSettings"),
            ],
        ),
    ]
