"""Schema: callbacks for actions submitted over the API (where to POST the decision, delivery state)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('approvals', '0004_schedules'),
    ]

    operations = [
        migrations.AddField(
            model_name='proposedaction',
            name='callback_attempts',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='proposedaction',
            name='callback_delivered_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='proposedaction',
            name='callback_last_error',
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name='proposedaction',
            name='callback_url',
            field=models.URLField(blank=True, help_text='Where to POST the signed decision (API submissions); empty for none.', max_length=500),
        ),
        migrations.AddConstraint(
            model_name='proposedaction',
            constraint=models.CheckConstraint(condition=models.Q(('callback_url', ''), ('callback_url__startswith', 'http://'), ('callback_url__startswith', 'https://'), _connector='OR'), name='action_callback_url_http'),
        ),
    ]
