"""Encrypt the inbound events' payloads and the sync conflicts' values already stored in clear; reversible."""

from django.db import migrations

from security.personal_data import EncryptedTable, table_rewrite

TABLES = [
    EncryptedTable("connectors_webhookevent", ("payload", "raw_body")),
    EncryptedTable("connectors_syncconflict", ("ours", "theirs")),
]


def encrypt(apps, schema_editor):
    for table in TABLES:
        table_rewrite(connection=schema_editor.connection, spec=table, mode="encrypt")


def decrypt(apps, schema_editor):
    for table in TABLES:
        table_rewrite(connection=schema_editor.connection, spec=table, mode="decrypt")


class Migration(migrations.Migration):
    dependencies = [("connectors", "0007_inbound_payloads_encrypted")]

    operations = [migrations.RunPython(encrypt, decrypt, elidable=False)]
