"""The task-run ledger moves out of operations into its own bottom app (issue 21): every app's tasks
run under it, and operations sits above them. State only: the tables keep their names
(``operations_taskrun``, ``operations_tasksettings``, ``operations_historicaltasksettings``), so no
row moves. ``operations`` 0017 removes the models from its own state."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("operations", "0016_kill_switch_plural"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='HistoricalTaskSettings',
                    fields=[
                        ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                        ('singleton', models.BooleanField(db_index=True, default=True, editable=False)),
                        ('max_attempts', models.PositiveIntegerField(default=3, help_text='Attempts of one run (the first included) before it is marked failed for good.')),
                        ('lease_seconds', models.PositiveIntegerField(default=660, help_text='How long a worker holds a run; longer than the worker timeout (Q_TIMEOUT, 600 s), so a live slow task is never taken over. An expired lease means the worker died: the run is retried.')),
                        ('keep_days', models.PositiveIntegerField(default=7, help_text='Succeeded runs older than this are deleted by the reaper (failed ones stay).')),
                        ('updated_at', models.DateTimeField(blank=True, editable=False)),
                        ('history_id', models.AutoField(primary_key=True, serialize=False)),
                        ('history_date', models.DateTimeField(db_index=True)),
                        ('history_change_reason', models.CharField(max_length=100, null=True)),
                        ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                        ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name': 'historical task settings',
                        'verbose_name_plural': 'historical task settings',
                        'db_table': 'operations_historicaltasksettings',
                        'ordering': ('-history_date', '-history_id'),
                        'get_latest_by': ('history_date', 'history_id'),
                    },
                    bases=(simple_history.models.HistoricalChanges, models.Model),
                ),
                migrations.CreateModel(
                    name='TaskRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('func', models.CharField(help_text='Dotted path of the task function.', max_length=200)),
                        ('key', models.CharField(help_text="SHA-256 of the task's arguments.", max_length=64)),
                        ('args', models.JSONField(blank=True, default=list, help_text='Positional arguments, to queue a retry.')),
                        ('kwargs', models.JSONField(blank=True, default=dict)),
                        ('status', models.CharField(choices=[('running', 'Running (lease held by a worker)'), ('retrying', 'Waiting for another attempt'), ('succeeded', 'Succeeded'), ('failed', 'Failed (gave up; never retried)')], max_length=10)),
                        ('attempts', models.PositiveIntegerField(default=0, help_text='Attempts started in this run.')),
                        ('requeues', models.PositiveIntegerField(default=0, help_text='Retries the reaper queued in this run.')),
                        ('lease_until', models.DateTimeField(blank=True, help_text="Running: the lease's end. Retrying: when the reaper queues it again.", null=True)),
                        ('token', models.CharField(blank=True, help_text="The current attempt's claim.", max_length=32)),
                        ('task_ids', models.JSONField(blank=True, default=list, help_text='django-q task ids of this run (a late duplicate of one is skipped).')),
                        ('worker', models.CharField(blank=True, help_text='host:pid of the last claimant.', max_length=100)),
                        ('last_error', models.TextField(blank=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'operations_taskrun',
                        'ordering': ['-updated_at', '-id'],
                        'indexes': [models.Index(fields=['status', 'lease_until'], name='operations__status_ad7183_idx')],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'failed'), _negated=True), fields=('func', 'key'), name='task_run_one_current_per_key'), models.CheckConstraint(condition=models.Q(models.Q(('status__in', ['running', 'retrying']), _negated=True), ('lease_until__isnull', False), _connector='OR'), name='task_run_live_has_lease')],
                    },
                ),
                migrations.CreateModel(
                    name='TaskSettings',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('singleton', models.BooleanField(default=True, editable=False, unique=True)),
                        ('max_attempts', models.PositiveIntegerField(default=3, help_text='Attempts of one run (the first included) before it is marked failed for good.')),
                        ('lease_seconds', models.PositiveIntegerField(default=660, help_text='How long a worker holds a run; longer than the worker timeout (Q_TIMEOUT, 600 s), so a live slow task is never taken over. An expired lease means the worker died: the run is retried.')),
                        ('keep_days', models.PositiveIntegerField(default=7, help_text='Succeeded runs older than this are deleted by the reaper (failed ones stay).')),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'verbose_name': 'task settings',
                        'verbose_name_plural': 'task settings',
                        'db_table': 'operations_tasksettings',
                        'ordering': ['pk'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('singleton', True)), name='task_settings_singleton'), models.CheckConstraint(condition=models.Q(('max_attempts__gte', 1)), name='task_settings_attempts_positive'), models.CheckConstraint(condition=models.Q(('lease_seconds__gte', 1)), name='task_settings_lease_positive')],
                    },
                ),
            ],
        ),
    ]
