"""State only: the consent record now belongs to the consent app (``consent.0001``), which keeps
this app's table ``privacy_consentrecord``; nothing in the database changes (issue 21)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0004_consent_evidence"),
        ("consent", "0001_consent_record_from_privacy"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="ConsentRecord")],
        ),
    ]
