"""When approvers are told about an item, and the keys that make each message at most once. Pure.

Three events per pending action, each with its own key:

- ``new_high_priority:<action>`` — proposed within the last ``NEW_WITHIN`` and high priority;
- ``near_sla:<action>:<due epoch>`` — its SLA runs out within the window; the due time is part of
  the key, so an item that gets a new SLA (escalated, or at the top of the ladder) warns again;
- ``escalated:<action>:<level>`` — escalated to a new group, once per level.

A delivery's key is the event key plus the channel (and the user, for email), so each recipient
gets each message at most once, and one failing channel does not stop the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from approvals.policy import RISK_ORDER
from notifications.messages import ActionSummary

# "New" is relative: a high-priority item first seen later than this (say, the worker was down, or
# notifications were just switched on) is left to the digest instead of announced as new.
NEW_WITHIN = timedelta(hours=24)


@dataclass(frozen=True)
class HighPriorityRule:
    """Risk at least ``risk_at_least`` OR impact at least ``impact_at_least``; unset parts never match."""

    risk_at_least: str = ""
    impact_at_least: Decimal | None = None

    def matches(self, *, risk_level: str, impact: Decimal | None) -> bool:
        if self.risk_at_least and RISK_ORDER.get(risk_level, -1) >= RISK_ORDER[self.risk_at_least]:
            return True
        return self.impact_at_least is not None and impact is not None and impact >= self.impact_at_least


@dataclass(frozen=True)
class Event:
    """Something approvers should hear about one action."""

    kind: str
    key: str
    action: ActionSummary


def is_near_sla(*, sla_due_at: datetime | None, now: datetime, window_minutes: int) -> bool:
    """Due in the future but within the window; overdue items are the escalation's business."""
    return sla_due_at is not None and now < sla_due_at <= now + timedelta(minutes=window_minutes)


def events_for(
    *, actions: Iterable[ActionSummary], rule: HighPriorityRule, now: datetime, window_minutes: int
) -> list[Event]:
    """Every event the pending ``actions`` call for, in the order given; keys not yet deduplicated."""
    events = []
    for a in actions:
        if now - a.created_at <= NEW_WITHIN and rule.matches(risk_level=a.risk_level, impact=a.impact):
            events.append(Event("new_high_priority", f"new_high_priority:{a.pk}", a))
        due = a.sla_due_at
        if due is not None and is_near_sla(sla_due_at=due, now=now, window_minutes=window_minutes):
            events.append(Event("near_sla", f"near_sla:{a.pk}:{int(due.timestamp())}", a))
        if a.escalation_level > 0:
            events.append(Event("escalated", f"escalated:{a.pk}:{a.escalation_level}", a))
    return events


def delivery_key(*, event_key: str, channel: str, user_id: int | None = None) -> str:
    return f"{event_key}:{channel}" if user_id is None else f"{event_key}:{channel}:{user_id}"


def digest_key(*, user_id: int, day: date) -> str:
    return f"digest:{user_id}:{day.isoformat()}:email"


def digest_due(*, now: datetime, hour_utc: int) -> bool:
    """The digest goes out on the first run at or after its hour (UTC), so a late worker catches up."""
    return now.hour >= hour_utc
