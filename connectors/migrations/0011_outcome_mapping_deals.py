from django.db import migrations, models

FIELDS = [
    ("deal_won_field", "CharField", "Deal field that says won, e.g. IsWon or hs_is_closed_won."),
    ("deal_won_values", "JSONField", 'Its values meaning won (the lead converted), e.g. ["true"].'),
    ("deal_won_time_field", "CharField", "Deal field holding when (CloseDate, closedate …)."),
    ("deal_lost_field", "CharField", "Deal field that says lost, e.g. IsClosed or hs_is_closed_lost."),
    ("deal_lost_values", "JSONField", 'Its values meaning lost, e.g. ["true"] (won is read first).'),
    (
        "deal_lost_time_field",
        "CharField",
        "Deal field holding when it was lost; empty: the modification time.",
    ),
    (
        "deal_amount_field",
        "CharField",
        "Deal field whose amount becomes the lead's deal value (Amount, amount).",
    ),
]


def _field(kind: str, help_text: str) -> models.Field:
    if kind == "JSONField":
        return models.JSONField(blank=True, default=list, help_text=help_text)
    return models.CharField(blank=True, max_length=100, help_text=help_text)


class Migration(migrations.Migration):
    dependencies = [("connectors", "0010_default_outcome_mappings")]

    operations = [
        migrations.AddField(model_name=model, name=name, field=_field(kind, help_text))
        for model in ("outcomemapping", "historicaloutcomemapping")
        for name, kind, help_text in FIELDS
    ]
