"""Encrypt the tickets' bodies and requesters' names and emails already stored in clear (and fill the blind index); reversible."""

from django.db import migrations

from security.personal_data import EncryptedTable, table_rewrite

TABLE = EncryptedTable(
    "support_ticket",
    ("body", "requester_name", "requester_email"),
    (("requester_email_index", "requester_email"),),
)


def encrypt(apps, schema_editor):
    table_rewrite(connection=schema_editor.connection, spec=TABLE, mode="encrypt")


def decrypt(apps, schema_editor):
    table_rewrite(connection=schema_editor.connection, spec=TABLE, mode="decrypt")


class Migration(migrations.Migration):
    dependencies = [("support", "0007_ticket_personal_data_encrypted")]

    operations = [migrations.RunPython(encrypt, decrypt, elidable=False)]
