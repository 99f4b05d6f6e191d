from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        from approvals.subjects import fact_source_register, panel_register
        from core import events
        from scoring.subjects import SCORE_PANEL, SCORES

        # The policy reads a lead's acting score and the model's drift; the approval page shows the
        # score's reasons.
        fact_source_register(SCORES)
        panel_register(SCORE_PANEL)
        from scoring.tasks import rescore_changed_leads

        events.subscribe("leads.changed", rescore_changed_leads)
