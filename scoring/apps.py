from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        from agentops import events
        from scoring.tasks import rescore_changed_leads

        events.subscribe("leads.changed", rescore_changed_leads)
