"""Encrypt the leads' emails and phones already stored in clear (and fill the blind index); reversible."""

from django.db import migrations

from security.personal_data import EncryptedTable, table_rewrite

TABLE = EncryptedTable("sales_lead", ("email", "phone"), (("email_index", "email"),))


def encrypt(apps, schema_editor):
    table_rewrite(connection=schema_editor.connection, spec=TABLE, mode="encrypt")


def decrypt(apps, schema_editor):
    table_rewrite(connection=schema_editor.connection, spec=TABLE, mode="decrypt")


class Migration(migrations.Migration):
    dependencies = [("sales", "0007_lead_personal_data_encrypted")]

    operations = [migrations.RunPython(encrypt, decrypt, elidable=False)]
