"""Schema: a consent record keeps the evidence of a grant that lifts a withdrawal (issue 17)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0003_purge_schedule"),
    ]

    operations = [
        migrations.AddField(
            model_name="consentrecord",
            name="evidence",
            field=models.CharField(
                blank=True,
                help_text="What proves a grant that lifts a withdrawal: a reference to what the person signed or said, where and when (a form submission, a ticket); no personal data.",
                max_length=500,
            ),
        ),
    ]
