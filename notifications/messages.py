"""What notifications say: subjects, plain text, HTML and Slack text. Pure (no ORM, no I/O).

Email goes to one approver and carries the whole story (target, the agent's reasons, SLA). The
Slack text goes to a shared channel, often outside the company's systems, so it names no person:
action, risk and SLA, and a link to the rest.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal

PRODUCT = "AgentOps"
SUBJECT_TARGET_MAX = 80


@dataclass(frozen=True)
class Message:
    """One rendered message; ``to`` is an email address, empty for a channel message."""

    subject: str
    text: str
    html: str = ""
    slack_text: str = ""
    to: str = ""


@dataclass(frozen=True)
class ActionSummary:
    """The facts about a pending action that messages show (gathered by the selectors)."""

    pk: int
    kind: str
    kind_label: str
    domain_label: str
    target: str
    rationale: str
    risk_level: str
    sla_due_at: datetime | None
    created_at: datetime
    group_id: int | None = None
    group: str = ""
    escalation_level: int = 0
    impact: Decimal | None = None
    policy_reasons: tuple[str, ...] = field(default_factory=tuple)
    payload_sha256: str = ""


def action_link(*, base_url: str, action_id: int) -> str:
    """The approval page of one item: ``<base_url>/approvals/<pk>/``."""
    return f"{base_url.rstrip('/')}/approvals/{action_id}/"


def one_line(value: str, limit: int = SUBJECT_TARGET_MAX) -> str:
    """Collapse whitespace (a ticket subject may carry newlines, which mail headers refuse) and cut."""
    flat = re.sub(r"\s+", " ", value).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def duration(minutes: int) -> str:
    """``25 min``, ``5 h 10 min``, ``3 days``: short enough for a subject line."""
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{minutes // (24 * 60)} days"


def _when(due: datetime, now: datetime) -> str:
    minutes = round((due - now).total_seconds() / 60)
    clock = due.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if minutes >= 0:
        return f"{clock} (in {duration(minutes)})"
    return f"{clock} (overdue by {duration(-minutes)})"


def _slack_escape(value: str) -> str:
    # Slack's mrkdwn gives these three characters meaning; everything else is literal.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


HEADLINES = {
    "new_high_priority": "New high-priority item",
    "near_sla": "Due soon",
    "escalated": "Escalated",
}


def _headline(kind: str, action: ActionSummary, now: datetime) -> str:
    if kind == "near_sla" and action.sla_due_at is not None:
        minutes = max(round((action.sla_due_at - now).total_seconds() / 60), 0)
        return f"Due in {duration(minutes)}"
    if kind == "escalated":
        return f"Escalated to {action.group or 'the next group'}"
    return HEADLINES[kind]


def action_message(*, kind: str, action: ActionSummary, base_url: str, now: datetime) -> Message:
    """The message about one pending action, for ``kind`` new_high_priority, near_sla or escalated."""
    if kind not in HEADLINES:
        raise ValueError(f"kind must be one of {', '.join(HEADLINES)}, got {kind!r}")
    link = action_link(base_url=base_url, action_id=action.pk)
    headline = _headline(kind, action, now)
    target = one_line(action.target) if action.target else "no target"
    subject = f"[{PRODUCT}] {headline}: {action.kind_label} — {target}"
    rows = [
        ("What", f"{action.kind_label} ({action.domain_label}), item #{action.pk}"),
        ("Target", action.target or "—"),
        ("Why", action.rationale),
        ("Needs approval", "; ".join(action.policy_reasons) or "—"),
        ("Risk", action.risk_level),
    ]
    if action.impact:
        rows.append(("Impact", f"{action.impact:,.0f}"))
    rows.append(("SLA due", _when(action.sla_due_at, now) if action.sla_due_at else "no SLA"))
    group = action.group or "no group"
    if action.escalation_level:
        group += f" (escalation level {action.escalation_level})"
    rows.append(("Approvers", group))
    text = "\n".join(
        [
            f"{headline}: {action.kind_label}",
            "",
            *(f"{k + ':':<16}{v}" for k, v in rows),
            "",
            f"Open it: {link}",
        ]
    )
    body = "".join(
        f"<tr><th align='left' valign='top'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    rendered = (
        f"<p><strong>{html.escape(headline)}</strong>: {html.escape(action.kind_label)}</p>"
        f"<table cellpadding='4'>{body}</table>"
        f"<p><a href='{html.escape(link)}'>Open item #{action.pk} in {PRODUCT}</a></p>"
    )
    due = f", SLA {_when(action.sla_due_at, now)}" if action.sla_due_at else ""
    slack = (
        f"*{_slack_escape(headline)}*: {_slack_escape(action.kind_label)} #{action.pk} "
        f"({_slack_escape(action.domain_label)}, risk {action.risk_level}{due}) "
        f"<{link}|Open in {PRODUCT}>"
    )
    return Message(subject=subject, text=text, html=rendered, slack_text=slack)


def with_decision_links(message: Message, *, approve_url: str, reject_url: str) -> Message:
    """``message`` with one-click Approve and Reject links (each opens a confirmation page first)."""
    text = (
        f"{message.text}\n\nDecide from here (each link opens a confirmation page, works once, and expires):\n"
        f"Approve: {approve_url}\nReject:  {reject_url}"
    )
    rendered = (
        f"{message.html}<p><a href='{html.escape(approve_url)}'>Approve</a> · "
        f"<a href='{html.escape(reject_url)}'>Reject</a> "
        "<small>(each link opens a confirmation page, works once, and expires)</small></p>"
    )
    return replace(message, text=text, html=rendered)


@dataclass(frozen=True)
class DigestItem:
    action: ActionSummary
    overdue: bool


def digest_message(
    *,
    name: str,
    day: date,
    items: Sequence[DigestItem],
    total: int,
    overdue: int,
    base_url: str,
    now: datetime,
) -> Message:
    """One approver's daily digest: how many items wait, how many are overdue, the most urgent first."""
    subject = f"[{PRODUCT}] Your approval queue on {day:%a %d %b}: {total} pending, {overdue} overdue"
    lines = [
        f"Hello {name},",
        "",
        f"{total} item{'s' if total != 1 else ''} wait for your approval; {overdue} overdue.",
    ]
    rows_html = []
    if items:
        lines += ["", f"The {len(items)} most urgent:"]
    for i, item in enumerate(items, 1):
        a = item.action
        link = action_link(base_url=base_url, action_id=a.pk)
        due = _when(a.sla_due_at, now) if a.sla_due_at else "no SLA"
        flag = "OVERDUE " if item.overdue else ""
        target = one_line(a.target) if a.target else "no target"
        lines.append(f"{i:>2}. {flag}{a.kind_label} — {target} — risk {a.risk_level} — SLA {due}")
        lines.append(f"    {link}")
        rows_html.append(
            f"<li>{'<strong>OVERDUE</strong> ' if item.overdue else ''}"
            f"<a href='{html.escape(link)}'>{html.escape(a.kind_label)} — {html.escape(target)}</a>"
            f" — risk {html.escape(a.risk_level)} — SLA {html.escape(due)}</li>"
        )
    queue = f"{base_url.rstrip('/')}/approvals/"
    lines += ["", f"Your whole queue: {queue}"]
    rendered = (
        f"<p>Hello {html.escape(name)},</p>"
        f"<p>{total} item{'s' if total != 1 else ''} wait for your approval; {overdue} overdue.</p>"
        + (f"<ol>{''.join(rows_html)}</ol>" if rows_html else "")
        + f"<p><a href='{html.escape(queue)}'>Your whole queue in {PRODUCT}</a></p>"
    )
    return Message(subject=subject, text="\n".join(lines), html=rendered)
