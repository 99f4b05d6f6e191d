"""Data: each CRM vendor's default outcome mapping (edit them in the admin; a connection may have its own).

Salesforce: a converted Lead has ``IsConverted`` true, converted on ``ConvertedDate``; the standard
"Closed - Not Converted" status is lost. Leads carry no amount (opportunities do): no deal value.
HubSpot: a contact whose ``lifecyclestage`` reached ``customer`` converted, at
``hs_lifecyclestage_customer_date``; its deal value is ``recent_deal_amount`` (the last won deal's).
HubSpot has no standard "lost" contact value, so none is mapped until a team says which it uses.
"""

from django.db import migrations

DEFAULTS = [
    {
        "vendor": "salesforce",
        "converted_field": "IsConverted",
        "converted_values": ["true"],
        "converted_time_field": "ConvertedDate",
        "lost_field": "Status",
        "lost_values": ["Closed - Not Converted"],
        "notes": "Seeded default. Lead conversion and the standard closed-not-converted status.",
    },
    {
        "vendor": "hubspot",
        "converted_field": "lifecyclestage",
        "converted_values": ["customer"],
        "converted_time_field": "hs_lifecyclestage_customer_date",
        "deal_value_field": "recent_deal_amount",
        "notes": "Seeded default. Map lost to the value your team uses, e.g. hs_lead_status UNQUALIFIED.",
    },
]


def forward(apps, schema_editor):
    OutcomeMapping = apps.get_model("connectors", "OutcomeMapping")
    for row in DEFAULTS:
        values = dict(row)
        OutcomeMapping.objects.get_or_create(vendor=values.pop("vendor"), connection=None, defaults=values)


def backward(apps, schema_editor):
    OutcomeMapping = apps.get_model("connectors", "OutcomeMapping")
    OutcomeMapping.objects.filter(connection=None, vendor__in=[row["vendor"] for row in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("connectors", "0009_outcome_mapping")]

    operations = [migrations.RunPython(forward, backward)]
