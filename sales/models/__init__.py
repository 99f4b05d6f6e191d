"""The SDR agent's data: leads and accounts, playbooks and experiments, cadences and their touches."""

from sales.models.cadences import (
    Cadence,
    CadenceStep,
    CompliancePattern,
    Enrolment,
    MessageTemplate,
    SequencingSettings,
    Touch,
)
from sales.models.leads import Account, Lead, LeadEvent, SdrQueue
from sales.models.playbooks import ExperimentAssignment, Playbook, PlaybookRule, ShadowMatch

__all__ = [
    "Account",
    "Cadence",
    "CadenceStep",
    "CompliancePattern",
    "Enrolment",
    "ExperimentAssignment",
    "Lead",
    "LeadEvent",
    "MessageTemplate",
    "Playbook",
    "PlaybookRule",
    "SdrQueue",
    "SequencingSettings",
    "ShadowMatch",
    "Touch",
]
