from django.db import models


class Domain(models.TextChoices):
    """Which team's queue an action belongs to."""

    SALES = "sales", "Sales development"
    SUPPORT = "support", "Customer support"
    OPERATIONS = "operations", "Operations"


class ActionKind(models.TextChoices):
    """The allow-list of actions an agent may propose. Anything else is refused."""

    ASSIGN_OWNER = "assign_owner", "Assign owner / SDR queue"
    ENROL_CADENCE = "enrol_cadence", "Enrol in cadence"
    ADD_TO_NURTURE = "add_to_nurture", "Add to nurture track"
    CREATE_TASK = "create_task", "Create CRM task"
    FLAG_FOR_REVIEW = "flag_for_review", "Flag for human review"
    SEND_EMAIL = "send_email", "Send email"
    SEND_SMS = "send_sms", "Send SMS"
    UPDATE_CRM_FIELDS = "update_crm_fields", "Update CRM fields"
    POST_PUBLIC_REPLY = "post_public_reply", "Post public reply"
    ADD_INTERNAL_NOTE = "add_internal_note", "Add internal note"
    SET_TICKET_STATUS = "set_ticket_status", "Set ticket status / group"
    HANDOFF_TO_HUMAN = "handoff_to_human", "Hand off to a human"
    ACCOUNT_LOOKUP = "account_lookup", "Read-only account lookup"
    CONFIG_CHANGE = "config_change", "Configuration change (change control)"


# Kinds that only read; everything else writes to a system of record or contacts a person.
READ_ONLY_KINDS = frozenset({ActionKind.ACCOUNT_LOOKUP, ActionKind.FLAG_FOR_REVIEW})
# Kinds that send a message to a contact: what an opt-out or a consent withdrawal stops.
MESSAGE_KINDS = frozenset({ActionKind.SEND_EMAIL, ActionKind.SEND_SMS})
# Kinds whose text a person outside the company receives: compliance-scanned whoever proposed them.
OUTBOUND_MESSAGE_KINDS = frozenset({ActionKind.SEND_EMAIL, ActionKind.SEND_SMS, ActionKind.POST_PUBLIC_REPLY})


class PolicyOutcome(models.TextChoices):
    """What an approval policy decides for the actions it matches (``approvals.policy``), from the
    most lenient to the strictest: the strictest matching policy wins."""

    AUTO = "auto", "Execute automatically"
    ONE_APPROVAL = "one_approval", "Require one approval"
    TWO_APPROVALS = "two_approvals", "Require two approvals (different people)"
    BLOCK = "block", "Block"


class ConfidenceSource(models.TextChoices):
    """Where a proposal's confidence came from: only AgentOps' own sources are taken at face value
    by the approval policy (``ApprovalPolicy.confidence_sources`` opts into the others)."""

    AGENT = "agent", "Reported by the agent"
    MODEL = "model", "A model version's prediction"
    RULE = "rule", "A rule's constant (playbook, cadence or change control)"


class RiskLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class ActionStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    EXECUTING = "executing", "Executing"
    EXECUTED = "executed", "Executed"
    FAILED = "failed", "Failed"


class DecisionOutcome(models.TextChoices):
    APPROVE = "approve", "Approved"
    EDIT_APPROVE = "edit_approve", "Edited and approved"
    REJECT = "reject", "Rejected"
    DEFER = "defer", "Deferred"


class RejectionReason(models.TextChoices):
    WRONG_TARGET = "wrong_target", "Wrong lead/ticket or account"
    WRONG_ACTION = "wrong_action", "Wrong action for the situation"
    BAD_COPY = "bad_copy", "Message copy not acceptable"
    COMPLIANCE = "compliance", "Compliance or legal concern"
    BAD_TIMING = "bad_timing", "Bad timing"
    DUPLICATE = "duplicate", "Duplicate of other work"
    LOW_QUALITY_DATA = "low_quality_data", "Underlying data is wrong"
    OTHER = "other", "Other (see comment)"


class TimeoutAction(models.TextChoices):
    """What happens to an item still undecided when its SLA runs out."""

    ESCALATE = "escalate", "Escalate to the next group"
    EXPIRE = "expire", "Expire (nothing is done)"
    REJECT = "reject", "Reject"
