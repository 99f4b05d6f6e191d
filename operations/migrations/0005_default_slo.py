"""Data: a first objective people can tune in the admin: 95% of decisions within their SLA over 28 days."""

from django.db import migrations

NAME = "Approvals decided within SLA"


def forward(apps, schema_editor):
    apps.get_model("operations", "ServiceLevelObjective").objects.get_or_create(
        name=NAME, defaults={"kpi": "approval_sla_attainment", "objective": 0.95, "window_days": 28}
    )


def backward(apps, schema_editor):
    apps.get_model("operations", "ServiceLevelObjective").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("operations", "0004_service_level_objectives")]

    operations = [migrations.RunPython(forward, backward)]
