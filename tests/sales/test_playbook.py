"""The playbook rule spec and its evaluation (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sales.playbook import (
    LeadFacts,
    RuleSpec,
    RuleSpecError,
    evaluate_rules,
    idempotency_key,
    longest_window_days,
    parse_actions,
    parse_conditions,
    rule_version,
    score_drop,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# The seed's three example mappings, as the demo playbook stores them.
HOT = (
    {"score_at_least": 80, "uncontacted": True},
    [
        {"kind": "assign_owner", "payload": {"queue": "Inbound SDR queue"}, "risk_level": "medium"},
        {"kind": "enrol_cadence", "payload": {"cadence": "Inbound hot – 7 steps", "steps": 7}},
    ],
)
NURTURE = (
    {"score_at_least": 50, "score_below": 80, "has_open_opportunity": True},
    [{"kind": "add_to_nurture", "payload": {"track": "Mid-funnel nurture"}, "risk_level": "low"}],
)
DROP = (
    {"score_drop_percent_above": 30, "score_drop_window_days": 7},
    [{"kind": "flag_for_review", "payload": {"reason": "Score dropped sharply"}, "risk_level": "low"}],
)


def rule(rule_id: int, name: str, spec: tuple[dict, list], **kw: object) -> RuleSpec:
    conditions, actions = spec
    return RuleSpec(
        id=rule_id,
        name=name,
        conditions=parse_conditions(conditions),
        actions=parse_actions(actions),
        version=rule_version(conditions, actions),
        **kw,  # type: ignore[arg-type]
    )


SEED_RULES = [
    rule(1, "Hot and uncontacted", HOT),
    rule(2, "Warm with opportunity", NURTURE),
    rule(3, "Score drop", DROP),
]


def lead(**kw: object) -> LeadFacts:
    values: dict = {"id": 7, "status": "new", "score": 50, "tier": "warm", "model_version_id": 1}
    values.update(kw)
    return LeadFacts(**values)


def kinds(facts: LeadFacts, rules: list[RuleSpec] = SEED_RULES) -> list[str]:
    return [m.action.kind for m in evaluate_rules(facts, rules, now=NOW)]


def test_it_assigns_and_enrols_a_hot_uncontacted_lead():
    assert kinds(lead(score=80, tier="hot")) == ["assign_owner", "enrol_cadence"]
    assert kinds(lead(score=86, status="contacted")) == []
    assert kinds(lead(score=79, status="new")) == []


def test_it_nurtures_a_warm_lead_with_an_open_opportunity_only_between_50_and_79():
    assert kinds(lead(score=50, status="contacted", has_open_opportunity=True)) == ["add_to_nurture"]
    assert kinds(lead(score=79, status="contacted", has_open_opportunity=True)) == ["add_to_nurture"]
    assert kinds(lead(score=80, status="contacted", has_open_opportunity=True)) == []
    assert kinds(lead(score=49, status="contacted", has_open_opportunity=True)) == []
    assert kinds(lead(score=60, status="contacted", has_open_opportunity=False)) == []


def history(*points: tuple[int, int]) -> tuple:
    """(days ago, score) pairs as score history."""
    return tuple((NOW - timedelta(days=days), i, score) for i, (days, score) in enumerate(points))


def test_it_flags_a_drop_of_more_than_30_percent_within_7_days():
    dropped = lead(status="contacted", score=55, history=history((6, 80), (0, 55)))  # 31% drop
    assert kinds(dropped) == ["flag_for_review"]
    exactly_30 = lead(status="contacted", score=56, history=history((6, 80), (0, 56)))
    assert kinds(exactly_30) == []
    too_long_ago = lead(status="contacted", score=40, history=history((8, 80), (0, 40)))
    assert kinds(too_long_ago) == []
    recovered = lead(status="contacted", score=80, history=history((5, 80), (3, 40), (1, 80)))
    assert kinds(recovered) == []


def test_it_words_the_rationale_with_the_conditions_and_the_top_reasons():
    facts = lead(
        score=86,
        tier="hot",
        reasons=("Pricing page visits 4: +12 points", "Company size 201-1000: +6 points"),
    )
    first = evaluate_rules(facts, SEED_RULES, now=NOW)[0]
    assert first.rationale == (
        "Playbook rule “Hot and uncontacted” matched: score 86 (≥ 80), not yet contacted; current score 86 (Hot)."
        " Top reasons: Pricing page visits 4: +12 points; Company size 201-1000: +6 points."
    )
    drop = evaluate_rules(
        lead(status="contacted", score=40, history=history((2, 80), (0, 40))), SEED_RULES, now=NOW
    )
    assert "score fell from 80 to 40 (50% drop, more than 30% within 7 days)" in drop[0].rationale


def test_it_fills_in_a_rationale_template():
    spec = rule(
        4,
        "T",
        (
            {"tiers": ["hot"]},
            [
                {
                    "kind": "flag_for_review",
                    "payload": {"reason": "x"},
                    "rationale": "{rule}: {score} {tier} – {reasons}",
                }
            ],
        ),
    )
    [match] = evaluate_rules(lead(score=90, tier="hot", reasons=("A: +1 point",)), [spec], now=NOW)
    assert match.rationale == "T: 90 Hot – A: +1 point"


def test_it_evaluates_in_priority_order_and_stops_where_told():
    first = rule(
        10,
        "z first",
        ({"tiers": ["hot"]}, [{"kind": "flag_for_review", "payload": {"reason": "a"}}]),
        priority=1,
        stop_processing=True,
    )
    second = rule(
        11,
        "a second",
        ({"score_at_least": 1}, [{"kind": "create_task", "payload": {"subject": "b"}}]),
        priority=2,
    )
    assert kinds(lead(score=90, tier="hot"), [second, first]) == ["flag_for_review"]
    assert kinds(lead(score=60, tier="warm"), [second, first]) == ["create_task"]


def test_it_checks_owner_status_and_attribute_conditions():
    owned = rule(
        20,
        "o",
        (
            {"owner": "set", "statuses": ["contacted"], "attributes": {"country": ["PT", "ES"]}},
            [{"kind": "create_task", "payload": {"subject": "s"}}],
        ),
    )
    assert kinds(lead(owner_id=3, status="contacted", attributes={"country": "PT"}), [owned]) == [
        "create_task"
    ]
    assert kinds(lead(owner_id=None, status="contacted", attributes={"country": "PT"}), [owned]) == []
    assert kinds(lead(owner_id=3, status="new", attributes={"country": "PT"}), [owned]) == []
    assert kinds(lead(owner_id=3, status="contacted", attributes={"country": "FR"}), [owned]) == []
    assert kinds(lead(owner_id=3, status="contacted", attributes={}), [owned]) == []
    unowned = rule(21, "u", ({"owner": "none"}, [{"kind": "create_task", "payload": {"subject": "s"}}]))
    assert (
        kinds(lead(owner_id=None), [unowned]) == ["create_task"] and kinds(lead(owner_id=1), [unowned]) == []
    )


def test_it_never_matches_score_conditions_for_an_unscored_lead():
    assert kinds(lead(score=None, tier="", has_open_opportunity=True)) == []


@pytest.mark.parametrize(
    ("conditions", "field"),
    [
        ({}, "conditions"),
        ([], "conditions"),
        ({"score_at_leest": 80}, "conditions.score_at_leest"),
        ({"score_at_least": "80"}, "conditions.score_at_least"),
        ({"score_at_least": 101}, "conditions.score_at_least"),
        ({"score_at_least": 80, "score_below": 80}, "conditions.score_below"),
        ({"tiers": ["boiling"]}, "conditions.tiers"),
        ({"statuses": []}, "conditions.statuses"),
        ({"uncontacted": "yes"}, "conditions.uncontacted"),
        ({"owner": "someone"}, "conditions.owner"),
        ({"score_drop_percent_above": 30}, "conditions.score_drop_window_days"),
        ({"score_drop_window_days": 7}, "conditions.score_drop_percent_above"),
        (
            {"score_drop_percent_above": 130, "score_drop_window_days": 7},
            "conditions.score_drop_percent_above",
        ),
        (
            {"score_drop_percent_above": 30, "score_drop_window_days": 365},
            "conditions.score_drop_window_days",
        ),
        ({"attributes": {"country": "PT"}}, "conditions.attributes.country"),
    ],
)
def test_it_names_the_field_of_a_bad_condition(conditions, field):
    with pytest.raises(RuleSpecError) as error:
        parse_conditions(conditions)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("actions", "field"),
    [
        ([], "actions"),
        ({"kind": "create_task"}, "actions"),
        ([{"kind": "delete_everything", "payload": {}}], "actions[0].kind"),
        (
            [{"kind": "config_change", "payload": {"model": "auth.User", "after": {"is_staff": True}}}],
            "actions[0].kind",
        ),
        ([{"kind": "enrol_cadence", "payload": {"steps": 7}}], "actions[0].payload.cadence"),
        ([{"kind": "enrol_cadence", "payload": {"cadence": "c", "steps": 70}}], "actions[0].payload.steps"),
        (
            [{"kind": "create_task", "payload": {"subject": "s"}, "risk_level": "extreme"}],
            "actions[0].risk_level",
        ),
        ([{"kind": "create_task", "payload": {"subject": "s"}, "confidence": 2}], "actions[0].confidence"),
        (
            [{"kind": "create_task", "payload": {"subject": "s"}, "rationale": "{secret}"}],
            "actions[0].rationale",
        ),
        (
            [{"kind": "create_task", "payload": {"subject": "s"}, "rationale": "{score"}],
            "actions[0].rationale",
        ),
        ([{"kind": "create_task", "payload": {"subject": "s"}, "when": "now"}], "actions[0].when"),
    ],
)
def test_it_names_the_field_of_a_bad_action(actions, field):
    with pytest.raises(RuleSpecError) as error:
        parse_actions(actions)
    assert error.value.field == field


def test_the_idempotency_key_follows_rule_content_and_model_version_not_the_score_value():
    facts = lead(score=85, tier="hot")
    [assign, _] = evaluate_rules(facts, SEED_RULES, now=NOW)
    key = idempotency_key(assign, facts)
    moved = lead(score=91, tier="hot")
    assert idempotency_key(evaluate_rules(moved, SEED_RULES, now=NOW)[0], moved) == key
    retrained = lead(score=85, tier="hot", model_version_id=2)
    assert idempotency_key(evaluate_rules(retrained, SEED_RULES, now=NOW)[0], retrained) != key
    edited = [rule(1, "Hot and uncontacted", ({"score_at_least": 75, "uncontacted": True}, HOT[1]))]
    assert idempotency_key(evaluate_rules(facts, edited, now=NOW)[0], facts) != key


def test_the_drop_reading_and_window_helpers():
    assert score_drop(history((3, 90), (1, 60)), days=7, now=NOW) == (90, 60)
    assert score_drop(history((9, 90)), days=7, now=NOW) is None
    assert longest_window_days(SEED_RULES) == 7
    assert longest_window_days(SEED_RULES[:2]) == 0
