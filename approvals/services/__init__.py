"""The services of the ProposedAction life cycle, one module per concern:

- ``proposals``: storing proposals (one per idempotency key) with their log entries;
- ``routing``: the approval policy's verdict on each proposal;
- ``decisions``: people's approvals, rejections, deferrals and bulk approvals;
- ``settlement``: status moves through the state machine, and actions carried out or withdrawn;
- ``escalation``: SLA timeouts;
- ``submissions``: proposals from integrations (the REST API), checked before they are stored;
- ``callback_delivery``: telling an integration what became of its proposal.

Import from here: the names below are the public services of approvals. Whoever carries an
action out (the outbox and its executors) moves it only through ``actions_start`` and
``actions_settle``; no other app sets a status.
"""

from approvals.payload_hash import payload_sha256
from approvals.services.callback_delivery import (
    CALLBACK_HOLD_RECHECK,
    action_callback_deliver,
    decision_summary,
)
from approvals.services.decisions import (
    BULK_APPROVE_MAX,
    DECISION_CHANNELS,
    BulkApproveOutcome,
    DecisionError,
    PayloadNotSeen,
    action_approve,
    action_defer,
    action_reject,
    actions_bulk_approve,
    payload_changes_since,
    validate_edits,
)
from approvals.services.escalation import EscalationSummary, actions_escalate_overdue
from approvals.services.proposals import (
    DuplicateProposal,
    NewProposal,
    action_model_label,
    action_propose,
    actions_propose_many,
)
from approvals.services.routing import action_route, actions_route_many
from approvals.services.settlement import (
    Settled,
    actions_cancel_unsent,
    actions_settle,
    actions_settle_many,
    actions_start,
)
from approvals.services.submissions import Submission, SubmissionRefused, TargetRef, action_submit

__all__ = [
    "BULK_APPROVE_MAX",
    "CALLBACK_HOLD_RECHECK",
    "DECISION_CHANNELS",
    "BulkApproveOutcome",
    "DecisionError",
    "DuplicateProposal",
    "EscalationSummary",
    "NewProposal",
    "PayloadNotSeen",
    "Settled",
    "Submission",
    "SubmissionRefused",
    "TargetRef",
    "action_approve",
    "action_callback_deliver",
    "action_defer",
    "action_model_label",
    "action_propose",
    "action_reject",
    "action_route",
    "action_submit",
    "actions_bulk_approve",
    "actions_cancel_unsent",
    "actions_escalate_overdue",
    "actions_propose_many",
    "actions_route_many",
    "actions_settle",
    "actions_settle_many",
    "actions_start",
    "decision_summary",
    "payload_changes_since",
    "payload_sha256",
    "validate_edits",
]
