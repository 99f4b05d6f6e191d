from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Consent registry, retention and purge, data-subject erasure and access requests."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "privacy"

    def ready(self) -> None:
        from approvals.executors import Veto, veto_register
        from privacy.selectors import message_vetoes

        # A message whose recipient opted out or withdrew consent since approval is never sent.
        veto_register(Veto(name="consent", refusals=message_vetoes))
