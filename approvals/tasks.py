"""django-q2 tasks for approvals: thin, idempotent wrappers around the services."""

from approvals.services import actions_escalate_overdue


def escalate_overdue_task() -> dict[str, int]:
    summary = actions_escalate_overdue(actor="task:sla")
    return {
        "escalated": summary.escalated,
        "expired": summary.expired,
        "rejected": summary.rejected,
        "at_top": summary.at_top,
    }
