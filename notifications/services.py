"""Sending notifications: decide what is due, claim each message once, deliver it, record the outcome.

At most once, with any number of workers: every message is first inserted with its unique
``dedupe_key`` and this run's ``batch`` id (conflicting inserts are skipped), and only the rows
carrying this run's batch id are sent. A worker that dies mid-send leaves rows in ``sending``,
which are never sent again. Delivery failures are recorded on the row; retryable ones are tried
again after a back-off, each retry claimed by a conditional update so it too happens once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from approvals.choices import ActionStatus
from notifications.choices import Channel, NotificationKind, NotificationStatus
from notifications.email_links import LinkRequest, approval_links_issue
from notifications.messages import (
    DigestItem,
    Message,
    action_message,
    digest_message,
    with_decision_links,
)
from notifications.models import Notification, NotificationSettings
from notifications.rules import (
    HighPriorityRule,
    delivery_key,
    digest_due,
    digest_key,
    events_for,
)
from notifications.selectors import (
    actions_to_notify,
    digest_recipients,
    group_recipients,
    notification_settings_get,
    pending_summaries,
)
from notifications.transports import TRANSPORTS, Transport, TransportError

DIGEST_TOP = 10
MAX_ATTEMPTS = 3
# Wait before attempt 2 and attempt 3 of a retryable failure.
RETRY_BACKOFF = (timedelta(minutes=2), timedelta(minutes=10))


@dataclass
class SendSummary:
    sent: int = 0
    failed: int = 0
    skipped: int = 0  # already sent by an earlier run or another worker
    retried: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed, "skipped": self.skipped, "retried": self.retried}


@dataclass(frozen=True)
class Delivery:
    """One message for one recipient (or the channel), not yet claimed."""

    key: str
    kind: str
    channel: str
    message: Message
    action_id: int | None = None
    user_id: int | None = None


def _channels(config: NotificationSettings) -> list[str]:
    if not config.enabled:
        return []
    channels = [Channel.EMAIL.value] if config.email_enabled else []
    if config.slack_webhook_url:
        channels.append(Channel.SLACK.value)
    return channels


def _transports(config: NotificationSettings) -> dict[str, Transport]:
    targets = {Channel.EMAIL.value: "", Channel.SLACK.value: config.slack_webhook_url}
    return {channel: TRANSPORTS[channel](targets[channel]) for channel in _channels(config)}


def _claim(deliveries: Sequence[Delivery]) -> list[Notification]:
    """Insert the deliveries, skipping keys that exist already; return the rows this call inserted."""
    if not deliveries:
        return []
    batch = uuid.uuid4()
    Notification.objects.bulk_create(
        [
            Notification(
                dedupe_key=d.key,
                batch=batch,
                kind=d.kind,
                channel=d.channel,
                action_id=d.action_id,
                recipient_id=d.user_id,
                address=d.message.to,
                subject=d.message.subject[:250],
                body=d.message.slack_text if d.channel == Channel.SLACK else d.message.text,
                html=d.message.html if d.channel == Channel.EMAIL else "",
            )
            for d in deliveries
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    return list(Notification.objects.filter(batch=batch).order_by("id"))


def _deliver(notification: Notification, transports: dict[str, Transport], now: datetime) -> bool:
    """Send one claimed row and record the outcome on it; True if it was sent."""
    transport = transports.get(notification.channel)
    message = Message(
        subject=notification.subject,
        text=notification.body,
        html=notification.html,
        slack_text=notification.body if notification.channel == Channel.SLACK else "",
        to=notification.address,
    )
    try:
        if transport is None:
            raise TransportError(f"{notification.channel}: channel switched off", retryable=False)
        transport.send(message)
    except TransportError as exc:
        retry = exc.retryable and notification.attempts < MAX_ATTEMPTS
        Notification.objects.filter(pk=notification.pk).update(
            status=NotificationStatus.FAILED,
            error=str(exc)[:2000] or exc.__class__.__name__,
            retryable=exc.retryable,
            next_attempt_at=now + RETRY_BACKOFF[notification.attempts - 1] if retry else None,
        )
        return False
    Notification.objects.filter(pk=notification.pk).update(
        status=NotificationStatus.SENT, sent_at=timezone.now(), error="", next_attempt_at=None
    )
    return True


def _with_decision_links(
    fresh: Sequence[Delivery], *, hashes: dict[int, str], config: NotificationSettings, now: datetime
) -> list[Delivery]:
    """The deliveries, each email about an action carrying its recipient's one-click Approve and
    Reject links (``notifications.email_links``); as they are when links are switched off."""
    wanted = [
        d
        for d in fresh
        if d.channel == Channel.EMAIL and d.user_id and d.action_id and hashes.get(d.action_id)
    ]
    if not config.email_link_hours or not wanted:
        return list(fresh)
    links = approval_links_issue(
        requests=[
            LinkRequest(d.user_id, d.action_id, hashes[d.action_id])
            for d in wanted
            if d.user_id and d.action_id
        ],
        base_url=config.link_base,
        expires_at=now + timedelta(hours=config.email_link_hours),
    )
    result = []
    for d in fresh:
        pair = links.get((d.user_id or 0, d.action_id or 0)) if d.channel == Channel.EMAIL else None
        if pair is not None:
            d = replace(
                d,
                message=with_decision_links(
                    d.message, approve_url=pair.approve_url, reject_url=pair.reject_url
                ),
            )
        result.append(d)
    return result


def _send(
    deliveries: Sequence[Delivery],
    transports: dict[str, Transport],
    now: datetime,
    *,
    links: tuple[dict[int, str], NotificationSettings] | None = None,
) -> SendSummary:
    """Claim and deliver the deliveries not sent before; with ``links`` (payload hash by action, and
    the settings), emails about an action get their one-click links, issued for fresh ones only."""
    summary = SendSummary()
    existing = set(
        Notification.objects.filter(dedupe_key__in=[d.key for d in deliveries]).values_list(
            "dedupe_key", flat=True
        )
    )
    fresh = [d for d in deliveries if d.key not in existing]
    if links is not None:
        fresh = _with_decision_links(fresh, hashes=links[0], config=links[1], now=now)
    claimed = _claim(fresh)
    summary.skipped = len(deliveries) - len(claimed)
    for notification in claimed:
        if _deliver(notification, transports, now):
            summary.sent += 1
        else:
            summary.failed += 1
    return summary


def notifications_retry_failed(
    *, now: datetime | None = None, config: NotificationSettings | None = None
) -> SendSummary:
    """Try retryable failures again once their back-off has passed; give up on items decided meanwhile."""
    now = now or timezone.now()
    summary = SendSummary()
    transports = _transports(config or notification_settings_get())
    if not transports:
        return summary
    due = list(
        Notification.objects.filter(
            status=NotificationStatus.FAILED, next_attempt_at__lte=now, channel__in=list(transports)
        )
        .filter(Q(action__isnull=True) | Q(action__status=ActionStatus.PENDING_APPROVAL))
        .order_by("next_attempt_at", "id")
    )
    for notification in due:
        # Claim the retry: of two workers, only one changes the row from this attempt count.
        claimed = Notification.objects.filter(
            pk=notification.pk, status=NotificationStatus.FAILED, attempts=notification.attempts
        ).update(status=NotificationStatus.SENDING, attempts=notification.attempts + 1, next_attempt_at=None)
        if not claimed:
            continue
        notification.attempts += 1
        summary.retried += 1
        if _deliver(notification, transports, now):
            summary.sent += 1
        else:
            summary.failed += 1
    return summary


def notifications_send_pending(*, now: datetime | None = None) -> SendSummary:
    """Tell approvers about new high-priority items, items near their SLA and escalations.

    Email goes to the active members (with an address) of the item's approver group; an item
    routed to no group is announced on the Slack channel only. Safe to run twice and concurrently:
    each message is sent at most once (see the module docstring). Retries earlier failures too.
    """
    now = now or timezone.now()
    config = notification_settings_get()
    channels = _channels(config)
    if not channels:
        return SendSummary()
    rule = HighPriorityRule(
        risk_at_least=config.high_priority_risk_at_least,
        impact_at_least=config.high_priority_impact_at_least,
    )
    actions = actions_to_notify(now=now, window_minutes=config.near_sla_minutes)
    events = events_for(actions=actions, rule=rule, now=now, window_minutes=config.near_sla_minutes)
    recipients = (
        group_recipients(group_ids={e.action.group_id for e in events if e.action.group_id is not None})
        if Channel.EMAIL in channels and events
        else {}
    )
    deliveries: list[Delivery] = []
    for event in events:
        message = action_message(kind=event.kind, action=event.action, base_url=config.link_base, now=now)
        if Channel.SLACK in channels:
            deliveries.append(
                Delivery(
                    key=delivery_key(event_key=event.key, channel=Channel.SLACK),
                    kind=event.kind,
                    channel=Channel.SLACK,
                    message=message,
                    action_id=event.action.pk,
                )
            )
        for person in recipients.get(event.action.group_id or 0, []):
            deliveries.append(
                Delivery(
                    key=delivery_key(event_key=event.key, channel=Channel.EMAIL, user_id=person.user_id),
                    kind=event.kind,
                    channel=Channel.EMAIL,
                    message=Message(
                        subject=message.subject, text=message.text, html=message.html, to=person.email
                    ),
                    action_id=event.action.pk,
                    user_id=person.user_id,
                )
            )
    hashes = {e.action.pk: e.action.payload_sha256 for e in events}
    summary = (
        _send(deliveries, _transports(config), now, links=(hashes, config)) if deliveries else SendSummary()
    )
    retried = notifications_retry_failed(now=now, config=config)
    summary.sent += retried.sent
    summary.failed += retried.failed
    summary.retried = retried.retried
    return summary


def notifications_send_digests(*, now: datetime | None = None) -> SendSummary:
    """Email each approver with pending items their daily digest, once a day from the digest hour.

    An approver is an active user with an address in a group that has a pending item routed to it.
    The digest lists what their approval queue lists (their groups' items and unrouted ones): how
    many, how many overdue, and the ``DIGEST_TOP`` most urgent in the queue's order.
    """
    now = (now or timezone.now()).astimezone(UTC)
    config = notification_settings_get()
    if Channel.EMAIL not in _channels(config) or not digest_due(now=now, hour_utc=config.digest_hour_utc):
        return SendSummary()
    day = now.date()
    approvers = digest_recipients()
    keys = {person: digest_key(user_id=person.user_id, day=day) for person in approvers}
    done = set(
        Notification.objects.filter(dedupe_key__in=list(keys.values())).values_list("dedupe_key", flat=True)
    )
    todo = [person for person in approvers if keys[person] not in done]
    if not todo:
        return SendSummary(skipped=len(approvers))
    queue = pending_summaries(now=now)
    deliveries = []
    for person in todo:
        groups = approvers[person]
        mine = [a for a in queue if a.group_id is None or a.group_id in groups]
        if not mine:
            continue
        overdue = [a for a in mine if a.sla_due_at is not None and a.sla_due_at < now]
        message = digest_message(
            name=person.name,
            day=day,
            items=[
                DigestItem(action=a, overdue=a.sla_due_at is not None and a.sla_due_at < now)
                for a in mine[:DIGEST_TOP]
            ],
            total=len(mine),
            overdue=len(overdue),
            base_url=config.link_base,
            now=now,
        )
        deliveries.append(
            Delivery(
                key=keys[person],
                kind=NotificationKind.DIGEST,
                channel=Channel.EMAIL,
                message=Message(
                    subject=message.subject, text=message.text, html=message.html, to=person.email
                ),
                user_id=person.user_id,
            )
        )
    summary = _send(deliveries, _transports(config), now) if deliveries else SendSummary()
    summary.skipped += len(approvers) - len(todo)
    return summary
