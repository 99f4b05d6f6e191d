"""Kill switches also hold applying configuration changes and sending decision callbacks: two
scopes that, like the global one, name no target (the target-iff-scoped constraints follow)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('operations', '0013_task_settings_and_reaper_schedule'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='autopauserule',
            name='autopause_switch_target_iff_scoped',
        ),
        migrations.RemoveConstraint(
            model_name='killswitch',
            name='kill_switch_target_iff_scoped',
        ),
        migrations.AlterField(
            model_name='autopauserule',
            name='switch_scope',
            field=models.CharField(choices=[('global', 'Everything'), ('connector', 'One connection'), ('action_kind', 'One action kind'), ('agent', 'One agent'), ('config_changes', 'Configuration changes (change control)'), ('callbacks', 'Decision callbacks to integrations')], max_length=20),
        ),
        migrations.AlterField(
            model_name='historicalautopauserule',
            name='switch_scope',
            field=models.CharField(choices=[('global', 'Everything'), ('connector', 'One connection'), ('action_kind', 'One action kind'), ('agent', 'One agent'), ('config_changes', 'Configuration changes (change control)'), ('callbacks', 'Decision callbacks to integrations')], max_length=20),
        ),
        migrations.AlterField(
            model_name='historicalkillswitch',
            name='scope',
            field=models.CharField(choices=[('global', 'Everything'), ('connector', 'One connection'), ('action_kind', 'One action kind'), ('agent', 'One agent'), ('config_changes', 'Configuration changes (change control)'), ('callbacks', 'Decision callbacks to integrations')], max_length=20),
        ),
        migrations.AlterField(
            model_name='killswitch',
            name='scope',
            field=models.CharField(choices=[('global', 'Everything'), ('connector', 'One connection'), ('action_kind', 'One action kind'), ('agent', 'One agent'), ('config_changes', 'Configuration changes (change control)'), ('callbacks', 'Decision callbacks to integrations')], max_length=20),
        ),
        migrations.AddConstraint(
            model_name='autopauserule',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('switch_scope__in', ['global', 'config_changes', 'callbacks']), ('switch_target', '')), models.Q(models.Q(('switch_scope__in', ['global', 'config_changes', 'callbacks']), _negated=True), models.Q(('switch_target', ''), _negated=True)), _connector='OR'), name='autopause_switch_target_iff_scoped'),
        ),
        migrations.AddConstraint(
            model_name='killswitch',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('scope__in', ['global', 'config_changes', 'callbacks']), ('target', '')), models.Q(models.Q(('scope__in', ['global', 'config_changes', 'callbacks']), _negated=True), models.Q(('target', ''), _negated=True)), _connector='OR'), name='kill_switch_target_iff_scoped'),
        ),
    ]
