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
        # Sales shows and decides with acting scores it does not hold: the lead list's score column,
        # the playbook rules' score facts, the cadence's top-reason merge field.
        from sales.scores import score_source_register
        from scoring.lead_scores import LEAD_SCORES

        score_source_register(LEAD_SCORES)
        from scoring.tasks import rescore_changed_leads

        events.subscribe("leads.changed", rescore_changed_leads)
