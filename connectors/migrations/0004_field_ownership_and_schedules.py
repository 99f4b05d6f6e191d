"""Data: seed who owns each mirrored field, and register the inbound sweep and the incremental sync.

Ownership: the CRM owns a lead's contact details, AgentOps owns its status (changed by approved
actions) and its consent (most restrictive wins: an opt-out from either side always applies); the
helpdesk owns its tickets. Fields without a row belong to the system the record comes from.
Schedules are registered by name with get_or_create, so re-running never duplicates them.
"""

from django.db import migrations

OWNERSHIP = [
    *(("lead", name, "crm", "owner_wins") for name in (
        "first_name", "last_name", "email", "phone", "title", "company_name",
    )),
    ("lead", "status", "agentops", "owner_wins"),
    ("lead", "consent_state", "agentops", "most_restrictive"),
    *(("ticket", name, "helpdesk", "owner_wins") for name in (
        "subject", "body", "status", "priority", "assigned_group", "requester_name", "requester_email",
    )),
]  # fmt: skip

SCHEDULES = [
    ("connectors: inbound sweep", "connectors.tasks.inbound_sweep_task", "I", 1),
    ("connectors: incremental sync", "connectors.tasks.sync_connections_task", "I", 15),
]


def forward(apps, schema_editor):
    FieldOwnership = apps.get_model("connectors", "FieldOwnership")
    for kind, name, owner, rule in OWNERSHIP:
        FieldOwnership.objects.get_or_create(
            record_kind=kind, field_name=name, defaults={"owner": owner, "rule": rule}
        )
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, schedule_type, minutes in SCHEDULES:
        Schedule.objects.get_or_create(
            name=name,
            defaults={"func": func, "schedule_type": schedule_type, "minutes": minutes, "repeats": -1},
        )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()
    FieldOwnership = apps.get_model("connectors", "FieldOwnership")
    for kind, name, _owner, _rule in OWNERSHIP:
        FieldOwnership.objects.filter(record_kind=kind, field_name=name).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0003_inbound"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
