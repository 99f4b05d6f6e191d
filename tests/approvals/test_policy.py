"""Every branch of the approval policy evaluation (pure, no database)."""

from decimal import Decimal

import pytest

from approvals.choices import PolicyOutcome
from approvals.policy import ActionFacts, PolicyRule, evaluate_policy

AUTO, ONE, TWO, BLOCK = (
    PolicyOutcome.AUTO,
    PolicyOutcome.ONE_APPROVAL,
    PolicyOutcome.TWO_APPROVALS,
    PolicyOutcome.BLOCK,
)


def facts(**overrides):
    # The conditions below are about a trusted confidence; an agent's own is covered at the end.
    base = dict(
        kind="enrol_cadence", domain="sales", risk_level="medium", confidence=0.9, read_only=False,
        confidence_source="model",
    )  # fmt: skip
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


# --- Where the confidence came from (issue 17) ------------------------------------------------

LOW_CONFIDENCE = PolicyRule(name="Low confidence", outcome=ONE, confidence_below=0.6)


def test_facts_default_to_a_confidence_reported_by_the_agent():
    assert (
        ActionFacts(kind="k", domain="d", risk_level="low", confidence=1, read_only=False).confidence_source
        == "agent"
    )


@pytest.mark.parametrize("source", ["model", "rule"])
def test_a_model_or_rule_confidence_is_taken_at_face_value(source):
    assert evaluate_policy(facts(confidence=0.9, confidence_source=source), [LOW_CONFIDENCE]).outcome == ONE
    low = evaluate_policy(
        facts(confidence=0.5, confidence_source=source, kind="account_lookup", read_only=True),
        [LOW_CONFIDENCE],
    )
    assert low.outcome == ONE and "confidence 0.50 below 0.60" in low.reasons[0]
    high = evaluate_policy(
        facts(confidence=0.9, confidence_source=source, kind="account_lookup", read_only=True),
        [LOW_CONFIDENCE],
    )
    assert high.outcome == AUTO


@pytest.mark.parametrize("outcome", [ONE, TWO, BLOCK])
def test_an_escalating_rule_takes_an_agents_confidence_as_below_its_threshold(outcome):
    rule = PolicyRule(name="Low confidence", outcome=outcome, confidence_below=0.6)
    decision = evaluate_policy(facts(confidence=0.99, confidence_source="agent"), [rule])
    assert decision.outcome == outcome
    assert "confidence 0.99 reported by the agent, not trusted: taken as below 0.60" in decision.reasons[0]


def test_an_auto_rule_is_never_satisfied_by_an_agents_confidence():
    auto_if_unsure = PolicyRule(
        name="Odd", outcome=AUTO, confidence_below=0.6, kinds=frozenset({"enrol_cadence"})
    )
    assert evaluate_policy(facts(confidence=0.1, confidence_source="agent"), [auto_if_unsure]).outcome == ONE
    assert evaluate_policy(facts(confidence=0.1, confidence_source="rule"), [auto_if_unsure]).outcome == AUTO


def test_a_rule_may_opt_into_the_agents_confidence():
    trusting = PolicyRule(
        name="Trust it", outcome=TWO, confidence_below=0.6, confidence_sources=frozenset({"agent"})
    )
    assert evaluate_policy(facts(confidence=0.99, confidence_source="agent"), [trusting]).outcome == ONE
    assert evaluate_policy(facts(confidence=0.5, confidence_source="agent"), [trusting]).outcome == TWO
    # Listing only the agent makes the model's confidence the untrusted one for this rule.
    assert evaluate_policy(facts(confidence=0.99, confidence_source="model"), [trusting]).outcome == TWO


def test_an_unknown_source_is_untrusted_and_a_rule_refuses_unknown_sources():
    assert (
        evaluate_policy(facts(confidence=0.99, confidence_source="guess"), [LOW_CONFIDENCE])
        .reasons[0]
        .count("not trusted")
        == 1
    )
    with pytest.raises(ValueError, match="confidence_sources"):
        PolicyRule(name="x", outcome=ONE, confidence_sources=frozenset({"vibes"}))
