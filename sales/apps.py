from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "sales"
    verbose_name = "Sales"

    def ready(self) -> None:
        from agentops import events
        from sales.tasks import playbooks_after_scoring

        events.subscribe("leads.scored", playbooks_after_scoring)
