"""Ship default compliance patterns and the sequencing settings row; both are edited in the admin."""

from django.db import migrations

PATTERNS = [
    ("pricing", r"[$€£]\s?\d|\d\s?(usd|eur|gbp)\b|\bpric(e|es|ing)\b|\bdiscount|\b\d{1,3}\s?%\s?off\b|\bper (seat|user|month)\b", "Prices, discounts and per-seat terms."),
    ("contract", r"\bcontracts?\b|\bagreements?\b|\bterms and conditions\b|\bbinding\b|\brenewal\b|\bSLA\b|\bcommitment\b", "Contractual language."),
    ("regulatory", r"\bguarantee[ds]?\b|\brisk[- ]free\b|\bGDPR\b|\bHIPAA\b|\bcompliant\b|\bFDA\b|\bfinancial advice\b|\binvestment returns?\b", "Regulatory claims and promises."),
]


def forwards(apps, schema_editor):
    CompliancePattern = apps.get_model("sales", "CompliancePattern")
    SequencingSettings = apps.get_model("sales", "SequencingSettings")
    for flag, regex, description in PATTERNS:
        CompliancePattern.objects.get_or_create(flag=flag, regex=regex, defaults={"description": description})
    SequencingSettings.objects.get_or_create(singleton=True)


def backwards(apps, schema_editor):
    CompliancePattern = apps.get_model("sales", "CompliancePattern")
    for flag, regex, _ in PATTERNS:
        CompliancePattern.objects.filter(flag=flag, regex=regex).delete()


class Migration(migrations.Migration):
    dependencies = [("sales", "0003_cadences_and_experiments")]

    operations = [migrations.RunPython(forwards, backwards)]
