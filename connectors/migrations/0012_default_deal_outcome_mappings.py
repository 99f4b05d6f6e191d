"""Data: the vendors' default deal rules on their default outcome mappings (edit them in the admin).

Salesforce: an Opportunity with ``IsWon`` true is won on its ``CloseDate``; ``IsClosed`` true (and
not won, since won is read first) is lost; its ``Amount`` is the deal value. HubSpot: a deal with
``hs_is_closed_won`` true is won on its ``closedate``; ``hs_is_closed_lost`` true is lost; ``amount``.
A won deal makes its lead converted; a lost one never undoes a conversion (connectors.signals).
"""

from django.db import migrations

DEALS = {
    "salesforce": {
        "deal_won_field": "IsWon",
        "deal_won_values": ["true"],
        "deal_won_time_field": "CloseDate",
        "deal_lost_field": "IsClosed",
        "deal_lost_values": ["true"],
        "deal_lost_time_field": "CloseDate",
        "deal_amount_field": "Amount",
    },
    "hubspot": {
        "deal_won_field": "hs_is_closed_won",
        "deal_won_values": ["true"],
        "deal_won_time_field": "closedate",
        "deal_lost_field": "hs_is_closed_lost",
        "deal_lost_values": ["true"],
        "deal_lost_time_field": "closedate",
        "deal_amount_field": "amount",
    },
}


def forward(apps, schema_editor):
    OutcomeMapping = apps.get_model("connectors", "OutcomeMapping")
    for vendor, values in DEALS.items():
        OutcomeMapping.objects.filter(vendor=vendor, connection=None, deal_won_field="").update(**values)


def backward(apps, schema_editor):
    OutcomeMapping = apps.get_model("connectors", "OutcomeMapping")
    blank = {name: ([] if name.endswith("values") else "") for name in DEALS["hubspot"]}
    OutcomeMapping.objects.filter(connection=None, vendor__in=list(DEALS)).update(**blank)


class Migration(migrations.Migration):
    dependencies = [("connectors", "0011_outcome_mapping_deals")]

    operations = [migrations.RunPython(forward, backward)]
