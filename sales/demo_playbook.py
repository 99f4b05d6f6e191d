"""The demo playbook: the seed document's three example mappings of lead score to pipeline actions.

Installed (active) by ``seed_demo``, and used by the tests and the benchmark, so all three pin
the same rules. Business users edit the stored copy in the admin; this is only its first version.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from sales.models import Playbook, PlaybookRule

DEMO_PLAYBOOK_NAME = "Inbound SDR playbook (demo)"
DEMO_QUEUE = "Inbound SDR queue"

DEMO_RULES: list[dict[str, Any]] = [
    {
        "name": "Hot and uncontacted → SDR queue + 7-step cadence",
        "priority": 10,
        "conditions": {"score_at_least": 80, "uncontacted": True},
        "actions": [
            {
                "kind": "assign_owner",
                "payload": {"queue": DEMO_QUEUE},
                "risk_level": "medium",
                "confidence": 0.9,
            },
            {
                "kind": "enrol_cadence",
                "payload": {"cadence": "Inbound hot – 7 steps", "steps": 7, "queue": DEMO_QUEUE},
                "risk_level": "medium",
                "confidence": 0.9,
            },
        ],
    },
    {
        "name": "Warm with an open opportunity → nurture",
        "priority": 20,
        "conditions": {"score_at_least": 50, "score_below": 80, "has_open_opportunity": True},
        "actions": [
            {
                "kind": "add_to_nurture",
                "payload": {"track": "Mid-funnel nurture", "content": "ROI calculator"},
                "risk_level": "low",
                "confidence": 0.85,
            }
        ],
    },
    {
        "name": "Score drop over 30% in 7 days → human review",
        "priority": 30,
        "conditions": {"score_drop_percent_above": 30, "score_drop_window_days": 7},
        "actions": [
            {
                "kind": "flag_for_review",
                "payload": {
                    "reason": "Lead score dropped by more than 30% within 7 days; check what changed."
                },
                "risk_level": "low",
                "confidence": 0.95,
                "rationale": "Score fell from {peak} to {score} ({drop} drop within 7 days). Top reasons now: {reasons}.",
            }
        ],
    },
]


def demo_playbook_ensure() -> Playbook:
    """Create the demo playbook and its rules if missing (idempotent; edits made since are kept)."""
    with transaction.atomic():
        playbook, _ = Playbook.objects.get_or_create(
            name=DEMO_PLAYBOOK_NAME,
            defaults={"description": "The seed's example mappings of lead score to pipeline actions."},
        )
        for spec in DEMO_RULES:
            values = {k: v for k, v in spec.items() if k != "name"}
            if not PlaybookRule.objects.filter(playbook=playbook, name=spec["name"]).exists():
                rule = PlaybookRule(playbook=playbook, name=spec["name"], **values)
                rule.full_clean()
                rule.save()
    return playbook
