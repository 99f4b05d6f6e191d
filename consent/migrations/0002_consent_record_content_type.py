"""Data: the consent record's content type follows it from privacy to consent (issue 21), so the
permissions granted on it and the admin's history of it stay attached. Nothing to do on a database
whose content types are not made yet (they are made after ``migrate``)."""

from django.db import migrations


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    if ContentType.objects.filter(app_label=new, model="consentrecord").exists():
        return
    ContentType.objects.filter(app_label=old, model="consentrecord").update(app_label=new)


def forwards(apps, schema_editor) -> None:
    _relabel(apps, "privacy", "consent")


def backwards(apps, schema_editor) -> None:
    _relabel(apps, "consent", "privacy")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("consent", "0001_consent_record_from_privacy"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
