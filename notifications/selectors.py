"""Reads for notifications: the settings, the pending items worth telling about, and who to tell.

Each function is one query whatever the number of items, so a run costs the same with 10 or 10,000
items in the queue (sending aside).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q

from approvals.models import Decision, ProposedAction
from approvals.payload_hash import payload_sha256
from approvals.selectors import actions_queue
from notifications.messages import ActionSummary
from notifications.models import NotificationSettings
from notifications.rules import NEW_WITHIN


@dataclass(frozen=True)
class Recipient:
    user_id: int
    email: str
    name: str


def notification_settings_get() -> NotificationSettings:
    """The settings row (created by a migration), or the defaults, unsaved, if it was removed."""
    return NotificationSettings.objects.first() or NotificationSettings()


def _target(action: ProposedAction) -> str:
    if action.lead is not None:
        lead = action.lead
        person = f"{lead.first_name} {lead.last_name}".strip()
        company = lead.account.name if lead.account is not None else lead.company_name
        return ", ".join(p for p in (person, company) if p)
    if action.ticket is not None:
        return f"ticket {action.ticket.external_id}: {action.ticket.subject}"
    return ""


def action_summary(action: ProposedAction) -> ActionSummary:
    """The message facts of an action from ``actions_queue`` (which joins its lead, account, ticket and group)."""
    impact = getattr(action, "impact", None)
    return ActionSummary(
        pk=action.pk,
        kind=action.kind,
        kind_label=action.get_kind_display(),
        domain_label=action.get_domain_display(),
        target=_target(action),
        rationale=action.rationale,
        risk_level=action.risk_level,
        sla_due_at=action.sla_due_at,
        created_at=action.created_at,
        group_id=action.approver_group_id,
        group=action.approver_group.name if action.approver_group is not None else "",
        escalation_level=action.escalation_level,
        impact=impact or None,
        policy_reasons=tuple(str(r) for r in action.policy_reasons or ()),
        payload_sha256=payload_sha256(action.payload),
    )


def actions_to_notify(*, now: datetime, window_minutes: int) -> list[ActionSummary]:
    """Pending items that may call for a message: new, near their SLA, or escalated (one query).

    A superset: ``rules.events_for`` decides which events each one actually has.
    """
    candidates = actions_queue(now=now).filter(
        Q(created_at__gte=now - NEW_WITHIN)
        | Q(sla_due_at__gt=now, sla_due_at__lte=now + timedelta(minutes=window_minutes))
        | Q(escalation_level__gt=0)
    )
    return [action_summary(a) for a in candidates]


def pending_summaries(*, now: datetime) -> list[ActionSummary]:
    """Every pending item, most urgent first (the approval queue's order), in one query."""
    return [action_summary(a) for a in actions_queue(now=now)]


def group_recipients(*, group_ids: Iterable[int]) -> dict[int, list[Recipient]]:
    """Active members with an email address of each group, by group id, in one query."""
    ids = sorted(set(group_ids))
    if not ids:
        return {}
    membership = get_user_model().groups.through.objects
    rows = (
        membership.filter(group_id__in=ids, user__is_active=True)
        .exclude(user__email="")
        .order_by("group_id", "user_id")
        .values_list("group_id", "user_id", "user__email", "user__first_name", "user__username")
    )
    by_group: dict[int, list[Recipient]] = {}
    for group_id, user_id, email, first_name, username in rows:
        by_group.setdefault(group_id, []).append(Recipient(user_id, email, first_name or username))
    return by_group


def digest_recipients() -> dict[Recipient, set[int]]:
    """Approvers with something waiting: active members with an email of any group that has a
    pending item routed to it, each with all their group ids (one query)."""
    pending_groups = ProposedAction.objects.filter(
        status="pending_approval", approver_group__isnull=False
    ).values("approver_group_id")
    membership = get_user_model().groups.through.objects
    member_of = membership.filter(group_id__in=pending_groups).values("user_id")
    rows = (
        membership.filter(user_id__in=member_of, user__is_active=True)
        .exclude(user__email="")
        .order_by("user_id", "group_id")
        .values_list("user_id", "user__email", "user__first_name", "user__username", "group_id")
    )
    result: dict[Recipient, set[int]] = {}
    for user_id, email, first_name, username, group_id in rows:
        result.setdefault(Recipient(user_id, email, first_name or username), set()).add(group_id)
    return result


def action_decider(*, action_id: int) -> str:
    """Who took the last decision (not a deferral) on an action: a username, or "the policy"."""
    last = (
        Decision.objects.filter(action_id=action_id)
        .exclude(outcome="defer")
        .select_related("decided_by")
        .order_by("-created_at", "-id")
        .first()
    )
    return (
        last.decided_by.get_username() if last is not None and last.decided_by is not None else "the policy"
    )
