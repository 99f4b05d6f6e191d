"""django-q2 tasks for notifications: thin, idempotent wrappers around the services."""

from notifications.services import notifications_send_digests, notifications_send_pending
from operations.task_runs import ledgered


@ledgered
def notify_pending_task() -> dict[str, int]:
    return notifications_send_pending().as_dict()


@ledgered
def send_daily_digest_task() -> dict[str, int]:
    return notifications_send_digests().as_dict()
