"""The message builder and the rules: pure, no database."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from notifications.messages import (
    ActionSummary,
    DigestItem,
    action_link,
    action_message,
    digest_message,
    duration,
)
from notifications.rules import HighPriorityRule, delivery_key, digest_due, events_for, is_near_sla

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _action(**overrides):
    fields = dict(
        pk=42, kind="enrol_cadence", kind_label="Enrol in cadence", domain_label="Sales development",
        target="Ada Lovelace, Analytical Engines Ltd", rationale="Hot and uncontacted this week.",
        risk_level="high", sla_due_at=NOW + timedelta(minutes=25), created_at=NOW - timedelta(minutes=5),
        group_id=7, group="SDR managers", impact=Decimal("90000"),
        policy_reasons=("Sales writes go to SDR managers: risk high (≥ high)",),
    )  # fmt: skip
    return ActionSummary(**{**fields, **overrides})


def test_it_links_to_the_items_approval_page():
    assert (
        action_link(base_url="https://ops.example.com/", action_id=42)
        == "https://ops.example.com/approvals/42/"
    )


def test_it_tells_what_whom_why_and_when_with_a_deep_link():
    message = action_message(
        kind="new_high_priority", action=_action(), base_url="https://ops.example.com", now=NOW
    )
    assert message.subject == (
        "[AgentOps] New high-priority item: Enrol in cadence — Ada Lovelace, Analytical Engines Ltd"
    )
    for expected in (
        "Enrol in cadence (Sales development), item #42",
        "Ada Lovelace, Analytical Engines Ltd",
        "Hot and uncontacted this week.",
        "Sales writes go to SDR managers",
        "90,000",
        "2026-03-02 09:25 UTC (in 25 min)",
        "SDR managers",
        "Open it: https://ops.example.com/approvals/42/",
    ):
        assert expected in message.text
    assert "href='https://ops.example.com/approvals/42/'" in message.html


def test_it_words_the_subject_by_kind():
    near = action_message(kind="near_sla", action=_action(), base_url="http://x", now=NOW)
    escalated = action_message(
        kind="escalated",
        action=_action(group="Sales directors", escalation_level=1),
        base_url="http://x",
        now=NOW,
    )
    assert near.subject.startswith("[AgentOps] Due in 25 min: Enrol in cadence")
    assert escalated.subject.startswith("[AgentOps] Escalated to Sales directors:")
    assert "Sales directors (escalation level 1)" in escalated.text
    with pytest.raises(ValueError, match="kind must be one of"):
        action_message(kind="digest", action=_action(), base_url="http://x", now=NOW)


def test_it_keeps_customer_text_on_one_line_in_the_subject_and_escaped_in_html():
    action = _action(target="ticket T-1: <b>URGENT</b>\r\nBcc: everyone@example.com " + "x" * 100)
    message = action_message(kind="new_high_priority", action=action, base_url="http://x", now=NOW)
    assert "\n" not in message.subject and "\r" not in message.subject
    assert message.subject.endswith("…") and len(message.subject) < 160
    assert "<b>URGENT</b>" not in message.html and "&lt;b&gt;URGENT&lt;/b&gt;" in message.html


def test_the_slack_text_names_no_person_and_links_to_the_item():
    message = action_message(kind="near_sla", action=_action(), base_url="https://ops.example.com", now=NOW)
    assert "Ada" not in message.slack_text and "uncontacted" not in message.slack_text
    assert "Enrol in cadence #42" in message.slack_text and "risk high" in message.slack_text
    assert "<https://ops.example.com/approvals/42/|Open in AgentOps>" in message.slack_text


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(0, "0 min"), (59, "59 min"), (60, "1 h"), (310, "5 h 10 min"), (3 * 24 * 60 + 5, "3 days")],
)
def test_durations_read_naturally(minutes, text):
    assert duration(minutes) == text


def test_the_digest_counts_and_lists_the_most_urgent_first():
    items = [
        DigestItem(_action(pk=1, sla_due_at=NOW - timedelta(minutes=10)), overdue=True),
        DigestItem(_action(pk=2, target="Grace Hopper, Navy", sla_due_at=None), overdue=False),
    ]
    message = digest_message(
        name="Sofia", day=date(2026, 3, 2), items=items, total=14, overdue=3, base_url="http://x", now=NOW
    )
    assert message.subject == "[AgentOps] Your approval queue on Mon 02 Mar: 14 pending, 3 overdue"
    lines = message.text.splitlines()
    assert lines[0] == "Hello Sofia,"
    assert "14 items wait for your approval; 3 overdue." in lines
    assert lines.index(" 1. OVERDUE Enrol in cadence — Ada Lovelace, Analytical Engines Ltd — risk high — "
                       "SLA 2026-03-02 08:50 UTC (overdue by 10 min)") < lines.index(
        " 2. Enrol in cadence — Grace Hopper, Navy — risk high — SLA no SLA")  # fmt: skip
    assert "http://x/approvals/1/" in message.text and "<ol>" in message.html
    assert lines[-1] == "Your whole queue: http://x/approvals/"


@pytest.mark.parametrize(
    ("rule", "risk", "impact", "expected"),
    [
        (HighPriorityRule(risk_at_least="high"), "critical", None, True),
        (HighPriorityRule(risk_at_least="high"), "medium", Decimal(10**6), False),
        (HighPriorityRule(impact_at_least=Decimal(50000)), "low", Decimal(50000), True),
        (HighPriorityRule(impact_at_least=Decimal(50000)), "critical", None, False),
        (HighPriorityRule(risk_at_least="high", impact_at_least=Decimal(50000)), "low", Decimal(60000), True),
        (HighPriorityRule(), "critical", Decimal(10**6), False),
    ],
)
def test_high_priority_is_risk_or_impact_above_the_set_thresholds(rule, risk, impact, expected):
    assert rule.matches(risk_level=risk, impact=impact) is expected


def test_near_sla_means_due_in_the_future_within_the_window():
    assert is_near_sla(sla_due_at=NOW + timedelta(minutes=30), now=NOW, window_minutes=30)
    assert not is_near_sla(sla_due_at=NOW + timedelta(minutes=31), now=NOW, window_minutes=30)
    assert not is_near_sla(sla_due_at=NOW, now=NOW, window_minutes=30)  # overdue: escalation's job
    assert not is_near_sla(sla_due_at=None, now=NOW, window_minutes=30)


def test_each_event_has_a_key_that_changes_only_when_it_should():
    rule = HighPriorityRule(risk_at_least="high")
    due = NOW + timedelta(minutes=20)
    events = events_for(
        actions=[_action(sla_due_at=due, escalation_level=2)], rule=rule, now=NOW, window_minutes=30
    )
    assert [e.key for e in events] == [
        "new_high_priority:42",
        f"near_sla:42:{int(due.timestamp())}",
        "escalated:42:2",
    ]
    old = _action(created_at=NOW - timedelta(days=2), sla_due_at=None)
    assert events_for(actions=[old], rule=rule, now=NOW, window_minutes=30) == []
    assert delivery_key(event_key="escalated:42:2", channel="email", user_id=5) == "escalated:42:2:email:5"
    assert delivery_key(event_key="escalated:42:2", channel="slack") == "escalated:42:2:slack"


def test_the_digest_is_due_from_its_hour_on():
    assert not digest_due(now=NOW.replace(hour=7, minute=59), hour_utc=8)
    assert digest_due(now=NOW.replace(hour=8), hour_utc=8)
    assert digest_due(now=NOW.replace(hour=23), hour_utc=8)
