"""Encrypt the personal values (a message's "to" …) already stored in clear in action and decision
payloads; reversible."""

from django.db import migrations

from security.personal_data import EncryptedTable, table_rewrite

TABLES = [
    EncryptedTable("approvals_proposedaction", json_columns=("payload",)),
    EncryptedTable("approvals_decision", json_columns=("original_payload", "final_payload", "payload_diff")),
]


def encrypt(apps, schema_editor):
    for table in TABLES:
        table_rewrite(connection=schema_editor.connection, spec=table, mode="encrypt")


def decrypt(apps, schema_editor):
    for table in TABLES:
        table_rewrite(connection=schema_editor.connection, spec=table, mode="decrypt")


class Migration(migrations.Migration):
    dependencies = [("approvals", "0010_action_payload_personal_keys_encrypted")]

    operations = [migrations.RunPython(encrypt, decrypt, elidable=False)]
