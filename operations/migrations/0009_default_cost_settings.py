"""Data: the cost settings row with first guesses of the minutes a person spends per action kind."""

from django.db import migrations

MINUTES = {
    "send_email": 6, "send_sms": 2, "create_task": 2, "assign_owner": 3, "enrol_cadence": 5,
    "add_to_nurture": 3, "update_crm_fields": 3, "post_public_reply": 8, "add_internal_note": 2,
    "set_ticket_status": 1, "flag_for_review": 1, "handoff_to_human": 2, "account_lookup": 3,
}  # fmt: skip


def forward(apps, schema_editor):
    apps.get_model("operations", "CostSettings").objects.get_or_create(
        singleton=True, defaults={"minutes_saved": MINUTES}
    )


def backward(apps, schema_editor):
    apps.get_model("operations", "CostSettings").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("operations", "0008_cost_settings")]

    operations = [migrations.RunPython(forward, backward)]
