"""The life cycle of a proposed action, in one place."""

from approvals.choices import ActionStatus as S
from core.statemachine import StateMachine

ACTION_STATES = StateMachine(
    "ProposedAction.status",
    {
        # The policy either sends it to a human, lets it through, or blocks it.
        S.PROPOSED: {S.PENDING_APPROVAL, S.APPROVED, S.REJECTED, S.CANCELLED},
        S.PENDING_APPROVAL: {S.APPROVED, S.REJECTED, S.EXPIRED, S.CANCELLED},
        S.APPROVED: {S.EXECUTING, S.CANCELLED},
        S.EXECUTING: {S.EXECUTED, S.FAILED},
        # A failed execution may be retried (by an operator or the retry policy) or given up.
        S.FAILED: {S.EXECUTING, S.CANCELLED},
        S.REJECTED: set(),
        S.EXPIRED: set(),
        S.CANCELLED: set(),
        S.EXECUTED: set(),
    },
)

# Statuses in which the item waits for a human in the approval queue.
OPEN_STATUSES = frozenset({S.PROPOSED, S.PENDING_APPROVAL})

# Statuses in which the work has not been carried out: withdrawing it (an opt-out) cancels it.
UNSENT_STATUSES = frozenset({S.PROPOSED, S.PENDING_APPROVAL, S.APPROVED})
