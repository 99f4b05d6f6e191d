"""Shared steps for the decision-log tests."""

from django.db import connection

from audit.services import decision_log_append


def append(actor="sdr-agent", **fields):
    return decision_log_append(
        event_type=fields.pop("event_type", "action.proposed"),
        actor=actor,
        subject_type="proposed_action",
        subject_id=fields.pop("subject_id", 1),
        input_context={"email": "ada@example.com", "score": 91},
        **fields,
    )


def behind_the_databases_back(sql, params=()):
    """Run raw SQL as an intruder with direct database access would.

    On SQLite nothing stops it. On PostgreSQL the append-only triggers would, so this runs it in
    replica mode, which skips ordinary triggers: what a superuser could do, and what only the hash
    chain can then reveal.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("RESET session_replication_role")
