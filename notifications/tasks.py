"""django-q2 tasks for notifications: thin, idempotent wrappers around the services."""

from notifications.services import notifications_send_digests, notifications_send_pending
from notifications.slack.services import slack_cards_post_pending
from taskruns.ledger import ledgered


@ledgered
def notify_pending_task() -> dict[str, int]:
    sent = notifications_send_pending().as_dict()
    cards = slack_cards_post_pending().as_dict()
    return {**sent, **{f"slack_cards_{name}": n for name, n in cards.items()}}


@ledgered
def send_daily_digest_task() -> dict[str, int]:
    return notifications_send_digests().as_dict()
