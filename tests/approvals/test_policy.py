"""Every branch of the approval policy evaluation (pure, no database)."""

from decimal import Decimal

import pytest

from approvals.policy import AUTO, BLOCK, ONE, TWO, ActionFacts, PolicyRule, evaluate_policy


def facts(**overrides):
    base = dict(kind="enrol_cadence", domain="sales", risk_level="medium", confidence=0.9, read_only=False)
    return ActionFacts(**{**base, **overrides})


def test_it_requires_an_approval_for_a_write_no_policy_mentions():
    decision = evaluate_policy(facts(), [])
    assert decision.outcome == ONE and decision.required_approvals == 1
    assert "writes need an approval" in decision.reasons[0]


def test_it_lets_a_read_only_action_run_on_its_own():
    assert evaluate_policy(facts(kind="account_lookup", read_only=True), []).outcome == AUTO


def test_a_policy_can_explicitly_allow_a_write():
    rule = PolicyRule(name="low-risk nurture", outcome=AUTO, kinds=frozenset({"add_to_nurture"}))
    assert evaluate_policy(facts(kind="add_to_nurture"), [rule]).outcome == AUTO
    assert evaluate_policy(facts(kind="enrol_cadence"), [rule]).outcome == ONE


@pytest.mark.parametrize(
    ("rule", "matching", "not_matching", "reason"),
    [
        (PolicyRule(name="r", outcome=TWO, risk_at_least="high"), {"risk_level": "critical"}, {"risk_level": "medium"}, "risk critical"),
        (PolicyRule(name="r", outcome=TWO, confidence_below=0.6), {"confidence": 0.59}, {"confidence": 0.6}, "confidence 0.59 below 0.60"),
        (PolicyRule(name="r", outcome=TWO, score_at_least=90, deal_value_at_least=Decimal(50000)),
         {"score": 91, "deal_value": Decimal(60000)}, {"score": 91, "deal_value": Decimal(40000)}, "deal value 60,000"),
        (PolicyRule(name="r", outcome=TWO, account_value_at_least=Decimal(100000)),
         {"account_value": Decimal(150000)}, {"account_value": None}, "account value 150,000"),
        (PolicyRule(name="r", outcome=TWO, bulk_size_at_least=50), {"bulk_size": 50}, {"bulk_size": 49}, "bulk change of 50"),
        (PolicyRule(name="r", outcome=TWO, compliance_flags_any=frozenset({"pricing", "contract"})),
         {"compliance_flags": frozenset({"pricing"})}, {"compliance_flags": frozenset({"unsubscribe"})}, "pricing language"),
        (PolicyRule(name="r", outcome=TWO, drift_states=frozenset({"alert"})), {"drift_state": "alert"}, {"drift_state": "ok"}, "drift state is alert"),
        (PolicyRule(name="r", outcome=TWO, ownership_change=True), {"ownership_change": True}, {"ownership_change": False}, "owner"),
        (PolicyRule(name="r", outcome=TWO, domains=frozenset({"support"})), {"domain": "support"}, {"domain": "sales"}, "r:"),
        (PolicyRule(name="r", outcome=TWO, score_at_least=90), {"score": 95}, {"score": None}, "score 95"),
    ],
)  # fmt: skip
def test_each_condition_matches_only_when_it_holds(rule, matching, not_matching, reason):
    hit = evaluate_policy(facts(**matching), [rule])
    assert hit.outcome == TWO and hit.required_approvals == 2
    assert any(reason in r for r in hit.reasons), hit.reasons
    assert evaluate_policy(facts(**not_matching), [rule]).outcome == ONE


def test_the_strictest_matching_policy_wins_and_every_reason_is_kept():
    rules = [
        PolicyRule(
            name="hot and big",
            outcome=TWO,
            score_at_least=90,
            sla_minutes=60,
            approver_group="Sales directors",
        ),
        PolicyRule(
            name="pricing words", outcome=ONE, compliance_flags_any=frozenset({"pricing"}), sla_minutes=30
        ),
        PolicyRule(name="never on drift", outcome=BLOCK, drift_states=frozenset({"alert"}), priority=1),
    ]
    decision = evaluate_policy(facts(score=95, compliance_flags=frozenset({"pricing"})), rules)
    assert decision.outcome == TWO
    assert decision.rules == ("hot and big", "pricing words")
    assert decision.approver_group == "Sales directors" and decision.sla_minutes == 60
    blocked = evaluate_policy(facts(score=95, drift_state="alert"), rules)
    assert blocked.outcome == BLOCK and blocked.required_approvals == 0
    assert blocked.rules[0] == "never on drift"


def test_it_refuses_a_policy_with_an_unknown_outcome_or_risk():
    with pytest.raises(ValueError, match="outcome must be one of"):
        PolicyRule(name="x", outcome="maybe")
    with pytest.raises(ValueError, match="risk_at_least"):
        PolicyRule(name="x", outcome=ONE, risk_at_least="extreme")


def test_a_configuration_change_always_needs_a_person_even_if_a_policy_says_auto():
    everything_auto = PolicyRule(name="Let it all through", outcome=AUTO)
    decision = evaluate_policy(facts(kind="config_change", domain="operations"), [everything_auto])
    assert decision.outcome == ONE
    assert "configuration changes always need a second person" in decision.reasons
    blocked = evaluate_policy(facts(kind="config_change"), [PolicyRule(name="No", outcome=BLOCK)])
    assert blocked.outcome == BLOCK
