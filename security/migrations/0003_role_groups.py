"""The five role groups with their permissions (security.roles is the table); reversible."""

from django.db import migrations


def create_role_groups(apps, schema_editor):
    from security.role_groups import role_groups_sync

    role_groups_sync(apps=apps)


def remove_role_groups(apps, schema_editor):
    from security.role_groups import role_groups_remove

    role_groups_remove(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("security", "0002_access_denial"),
        # Every app whose permissions the ops admins and auditors receive, as of this migration;
        # models added later get theirs from `manage.py roles_sync`.
        ("approvals", "0009_config_change_kind"),
        ("audit", "0011_playbook_rollout_events"),
        ("connectors", "0006_execution_schedule"),
        ("notifications", "0002_defaults_and_schedules"),
        ("operations", "0011_csat_drop_metric"),
        ("sales", "0006_rule_canary_and_shadow"),
        ("scoring", "0004_leadscore_version_lead"),
        ("support", "0006_support_bot_schedule"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
