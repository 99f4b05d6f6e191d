"""django-q2 tasks for approvals: thin, idempotent wrappers around the services."""

from approvals.services import action_callback_deliver, actions_escalate_overdue
from taskruns.ledger import ledgered


@ledgered
def escalate_overdue_task() -> dict[str, int]:
    summary = actions_escalate_overdue(actor="task:sla")
    return {
        "escalated": summary.escalated,
        "expired": summary.expired,
        "rejected": summary.rejected,
        "at_top": summary.at_top,
    }


@ledgered
def callback_deliver_task(action_id: int, attempt: int = 1, status: str = "") -> str:
    """Queued by ``approvals.services.callback_delivery`` (by dotted path) with the status the callback
    is about: the ledger keys a run by its arguments, so each status is a run of its own and a retry of
    the same attempt is the same run. ``status`` "" (tasks queued before it was an argument): the
    action's status at delivery."""
    return action_callback_deliver(action_id=action_id, attempt=attempt, status=status)
