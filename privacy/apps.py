from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Consent registry, retention and purge, data-subject erasure and access requests."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "privacy"
