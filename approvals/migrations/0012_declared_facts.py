"""Where a proposal's confidence came from, and which sources a policy trusts (issue 17).

New actions say it themselves; existing ones are labelled from who proposed them: an API
submission is the agent's report, a playbook's or cadence's (it names its rule) a rule's, the
support bot's (a model version, no rule) the model's, the rest (change control) a rule's. The
label is only read when an action is routed and when it is shown, so the backfill changes no
decision already taken. It runs after the schema steps, in this one migration, because the field
is useless to the approval page until it holds the truth for the rows already there.
"""

from django.db import migrations, models


def label_existing(apps, schema_editor):
    ProposedAction = apps.get_model("approvals", "ProposedAction")
    ProposedAction.objects.filter(proposed_by__startswith="api:").update(confidence_source="agent")
    others = ProposedAction.objects.exclude(proposed_by__startswith="api:")
    # A playbook's or cadence's rule names itself (its model version is the score's, not the
    # confidence's); the support bot's confidence is its intent model's.
    others.exclude(matched_rule="").update(confidence_source="rule")
    others.filter(matched_rule="", model_version__isnull=False).update(confidence_source="model")
    others.filter(matched_rule="", model_version__isnull=True).update(confidence_source="rule")


class Migration(migrations.Migration):

    dependencies = [
        ("approvals", "0011_encrypt_existing_payload_personal_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name='approvalpolicy',
            name='confidence_sources',
            field=models.JSONField(blank=True, default=list, help_text='Sources whose confidence confidence_below takes at face value: "model", "rule", "agent". Empty: "model" and "rule" (AgentOps\' own); add "agent" to trust what an agent reports about itself.'),
        ),
        migrations.AddField(
            model_name='historicalapprovalpolicy',
            name='confidence_sources',
            field=models.JSONField(blank=True, default=list, help_text='Sources whose confidence confidence_below takes at face value: "model", "rule", "agent". Empty: "model" and "rule" (AgentOps\' own); add "agent" to trust what an agent reports about itself.'),
        ),
        migrations.AddField(
            model_name='proposedaction',
            name='confidence_source',
            field=models.CharField(choices=[('agent', 'Reported by the agent'), ('model', "A model version's prediction"), ('rule', "A rule's constant (playbook, cadence or change control)")], default='agent', help_text="Where the confidence came from: reported by the agent itself (the API; not trusted by the policy unless a rule opts in), a model version's prediction, or a rule's constant.", max_length=10),
        ),
        migrations.AlterField(
            model_name='approvalpolicy',
            name='confidence_below',
            field=models.FloatField(blank=True, help_text="Matches when the action's confidence is below this. A confidence from a source not in confidence_sources is not trusted: a rule needing approval or blocking takes it as below (it matches), an auto rule as not below (it does not).", null=True),
        ),
        migrations.AlterField(
            model_name='historicalapprovalpolicy',
            name='confidence_below',
            field=models.FloatField(blank=True, help_text="Matches when the action's confidence is below this. A confidence from a source not in confidence_sources is not trusted: a rule needing approval or blocking takes it as below (it matches), an auto rule as not below (it does not).", null=True),
        ),
        migrations.AddConstraint(
            model_name='proposedaction',
            constraint=models.CheckConstraint(condition=models.Q(('confidence_source__in', ['agent', 'model', 'rule'])), name='action_confidence_source_valid'),
        ),
        migrations.RunPython(label_existing, migrations.RunPython.noop),
    ]
