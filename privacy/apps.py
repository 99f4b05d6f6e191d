from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Consent registry, retention and purge, data-subject erasure and access requests."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "privacy"

    def ready(self) -> None:
        from approvals.executors import Veto, veto_register
        from privacy.selectors import message_vetoes

        # A message to a recipient who opted out or withdrew consent is refused when proposed, and
        # never sent if that happened after approval.
        veto_register(Veto(name="consent", refusals=message_vetoes, code="consent_withdrawn"))

        from core import events
        from privacy.services import mail_bounces_suppress, sms_channel_suppress

        # A permanent bounce of our own mail stops email to the lead (the registry keeps why).
        events.subscribe("mail.bounced", mail_bounces_suppress)
        # A STOP texted back, or a number that takes no texts, stops SMS to the lead likewise.
        events.subscribe("sms.stopped", sms_channel_suppress)
