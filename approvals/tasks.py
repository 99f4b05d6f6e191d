"""django-q2 tasks for approvals: thin, idempotent wrappers around the services."""

from datetime import datetime

from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from approvals.services import action_callback_deliver, actions_escalate_overdue
from operations.task_runs import ledgered


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
def callback_deliver_task(action_id: int, attempt: int = 1) -> str:
    return action_callback_deliver(action_id=action_id, attempt=attempt)


def enqueue_callback(action_id: int, attempt: int = 1) -> str:
    """Queue delivery of an action's decision callback (called once the decision has committed)."""
    return async_task(
        callback_deliver_task, action_id, attempt, task_name=f"callback for action #{action_id}"
    )


def schedule_callback_retry(action_id: int, attempt: int, *, run_at: datetime) -> None:
    """Run delivery attempt ``attempt`` at ``run_at`` (a one-off schedule, deleted once it has run)."""
    schedule(
        "approvals.tasks.callback_deliver_task",
        action_id,
        attempt,
        schedule_type=Schedule.ONCE,
        next_run=run_at,
    )
