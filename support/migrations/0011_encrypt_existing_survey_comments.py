"""Encrypt the survey comments already stored in clear; reversible."""

from django.db import migrations

from security.personal_data import EncryptedTable, table_rewrite

TABLE = EncryptedTable("support_surveyresponse", ("comment",))


def encrypt(apps, schema_editor):
    table_rewrite(connection=schema_editor.connection, spec=TABLE, mode="encrypt")


def decrypt(apps, schema_editor):
    table_rewrite(connection=schema_editor.connection, spec=TABLE, mode="decrypt")


class Migration(migrations.Migration):
    dependencies = [("support", "0010_survey_comment_encrypted")]

    operations = [migrations.RunPython(encrypt, decrypt, elidable=False)]
