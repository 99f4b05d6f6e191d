from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from core import events
        from notifications.slack.services import slack_cards_after_decision

        # After any decision (web, API, email, Slack), the item's Slack cards show who decided what.
        events.subscribe("actions.decided", slack_cards_after_decision)
