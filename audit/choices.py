from django.db import models


class EventType(models.TextChoices):
    """What kind of decision or state change a decision-log entry records."""

    ACTION_PROPOSED = "action.proposed", "Action proposed"
    ACTION_TRANSITIONED = "action.transitioned", "Action status changed"
    ACTION_DECIDED = "action.decided", "Action decided"
    ACTION_EXECUTED = "action.executed", "Action executed"
    ACTION_ESCALATED = "action.escalated", "Action escalated"
    LEADS_UPSERTED = "leads.upserted", "Leads upserted"
    TICKETS_UPSERTED = "tickets.upserted", "Tickets upserted"
    MODEL_TRAINED = "model.trained", "Model trained"
    MODEL_VALIDATED = "model.validated", "Model validated"
    MODEL_TRANSITIONED = "model.transitioned", "Model version status changed"
    LEADS_SCORED = "leads.scored", "Leads scored"
    DRIFT_CHECKED = "drift.checked", "Drift checked"
    OUTCOME_RECORDED = "outcome.recorded", "Outcome recorded"
    CADENCE_ENROLLED = "cadence.enrolled", "Enrolled in a cadence"
    CADENCE_STEP = "cadence.step", "Cadence step skipped, failed or paused"
    CADENCE_EXITED = "cadence.exited", "Cadence ended"
    CONSENT_CHANGED = "consent.changed", "Consent changed"
    EXPERIMENT_HELD_OUT = "experiment.held_out", "Held out as an experiment control"
    KILL_SWITCH_CHANGED = "kill_switch.changed", "Kill switch changed"
    INCIDENT_OPENED = "incident.opened", "Incident opened"
    INCIDENT_RESOLVED = "incident.resolved", "Incident resolved"
    PLAYBOOK_SHADOW_MATCH = "playbook.shadow_match", "Shadow rule matched (not proposed)"
    PLAYBOOK_RULE_ROLLOUT = "playbook.rule_rollout", "Canary or shadow rule promoted or rolled back"
