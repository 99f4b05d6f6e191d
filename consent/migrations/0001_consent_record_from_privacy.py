"""State only: the consent record moves from the privacy app into the consent app (issue 21).

The table keeps its name (``privacy_consentrecord``), its constraints and its index, so no row
moves; ``privacy.0005`` drops the model from privacy's state.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("sales", "0006_rule_canary_and_shadow"),
        ("privacy", "0004_consent_evidence"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="ConsentRecord",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("email_key", models.CharField(blank=True, db_index=True, max_length=64)),
                        (
                            "channel",
                            models.CharField(
                                choices=[
                                    ("email", "Email"),
                                    ("sms", "SMS"),
                                    ("phone", "Phone"),
                                    ("linkedin", "LinkedIn"),
                                ],
                                max_length=10,
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[("granted", "Granted"), ("withdrawn", "Withdrawn")], max_length=10
                            ),
                        ),
                        (
                            "lawful_basis",
                            models.CharField(
                                choices=[
                                    ("consent", "Consent"),
                                    ("legitimate_interest", "Legitimate interest"),
                                    ("contract", "Contract"),
                                    ("legal_obligation", "Legal obligation"),
                                    ("vital_interest", "Vital interest"),
                                    ("public_task", "Public task"),
                                ],
                                default="consent",
                                max_length=20,
                            ),
                        ),
                        (
                            "source",
                            models.CharField(
                                help_text="form, import, api, webhook:<vendor>, admin …", max_length=60
                            ),
                        ),
                        ("recorded_at", models.DateTimeField(db_index=True)),
                        (
                            "recorded_by",
                            models.CharField(help_text="The user or agent that recorded it.", max_length=100),
                        ),
                        ("note", models.CharField(blank=True, max_length=300)),
                        (
                            "evidence",
                            models.CharField(
                                blank=True,
                                help_text="What proves a grant that lifts a withdrawal: a reference to what the person signed or said, where and when (a form submission, a ticket); no personal data.",
                                max_length=500,
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "lead",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="consent_records",
                                to="sales.lead",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "privacy_consentrecord",
                        "ordering": ["-recorded_at", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["lead", "channel", "recorded_at"], name="privacy_con_lead_id_ec4288_idx"
                            )
                        ],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("lead__isnull", False),
                                    models.Q(("email_key", ""), _negated=True),
                                    _connector="OR",
                                ),
                                name="consent_names_a_person",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("channel__in", ["email", "sms", "phone", "linkedin"])),
                                name="consent_channel_valid",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("status__in", ["granted", "withdrawn"])),
                                name="consent_status_valid",
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
