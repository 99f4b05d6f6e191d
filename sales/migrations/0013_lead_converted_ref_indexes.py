import django.db.models.fields.json
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sales", "0012_lead_account_ref_indexes")]

    operations = [
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(
                django.db.models.fields.json.KeyTextTransform(f"salesforce_{what}_id", "attributes"),
                name=f"lead_sf_{what}_ref",
            ),
        )
        for what in ("contact", "opportunity")
    ]
