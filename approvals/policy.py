"""Approval policy evaluation: which actions need a human, how many, and why. Pure (no ORM).

Policies are data (``ApprovalPolicy`` in the admin). Each matching rule proposes an outcome; the
strictest one wins (block > two approvals > one approval > auto-execute), and every matching rule
contributes its reason, so the approver sees all of them. Writes need a human unless a rule
explicitly lets them through; read-only actions may run on their own.

A confidence is taken at face value only from a source the rule trusts (``confidence_sources``;
by default the model's and the rules', never an agent's report about itself). An untrusted
confidence fails closed: a ``confidence_below`` rule that asks for a person (or blocks) matches as
if it were low, and one that lets the action through (auto) does not match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from approvals.choices import PolicyOutcome

# The strictest matching rule wins (PolicyOutcome lists its outcomes from the most lenient).
STRICTNESS = {outcome: rank for rank, outcome in enumerate(PolicyOutcome)}
REQUIRED_APPROVALS = {
    PolicyOutcome.AUTO: 0,
    PolicyOutcome.ONE_APPROVAL: 1,
    PolicyOutcome.TWO_APPROVALS: 2,
    PolicyOutcome.BLOCK: 0,
}
RISK_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}
#: Where a confidence comes from (``approvals.choices.ConfidenceSource``), and the ones a rule takes
#: at face value unless it lists its own: AgentOps' own, never what an agent says about itself.
CONFIDENCE_SOURCES = frozenset({"agent", "model", "rule"})
TRUSTED_CONFIDENCE_SOURCES = frozenset({"model", "rule"})
_SOURCE_WORDS = {"agent": "reported by the agent", "model": "from the model", "rule": "set by a rule"}


@dataclass(frozen=True)
class ActionFacts:
    """What the policy looks at, gathered by the routing service."""

    kind: str
    domain: str
    risk_level: str
    confidence: float
    read_only: bool
    # Fail closed: a producer that does not say where its confidence came from is the agent.
    confidence_source: str = "agent"
    score: int | None = None
    deal_value: Decimal | None = None
    account_value: Decimal | None = None
    bulk_size: int = 1
    compliance_flags: frozenset[str] = frozenset()
    drift_state: str = "ok"
    ownership_change: bool = False


@dataclass(frozen=True)
class PolicyRule:
    """One rule: conditions that must all hold (unset ones are ignored), and what follows."""

    name: str
    outcome: str
    kinds: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    risk_at_least: str | None = None
    confidence_below: float | None = None
    confidence_sources: frozenset[str] = frozenset()
    score_at_least: int | None = None
    deal_value_at_least: Decimal | None = None
    account_value_at_least: Decimal | None = None
    bulk_size_at_least: int | None = None
    compliance_flags_any: frozenset[str] = frozenset()
    drift_states: frozenset[str] = frozenset()
    ownership_change: bool | None = None
    approver_group: str = ""
    sla_minutes: int | None = None
    timeout_action: str = "escalate"
    priority: int = 100

    def __post_init__(self) -> None:
        if self.outcome not in PolicyOutcome.values:
            raise ValueError(
                f"policy '{self.name}': outcome must be one of {', '.join(PolicyOutcome.values)}"
            )
        if self.risk_at_least is not None and self.risk_at_least not in RISK_ORDER:
            raise ValueError(f"policy '{self.name}': risk_at_least must be one of {', '.join(RISK_ORDER)}")
        if not self.confidence_sources <= CONFIDENCE_SOURCES:
            raise ValueError(
                f"policy '{self.name}': confidence_sources must be among {', '.join(sorted(CONFIDENCE_SOURCES))}"
            )


@dataclass(frozen=True)
class PolicyDecision:
    outcome: PolicyOutcome
    reasons: tuple[str, ...]
    rules: tuple[str, ...]
    approver_group: str = ""
    sla_minutes: int | None = None
    timeout_action: str = "escalate"

    @property
    def required_approvals(self) -> int:
        return REQUIRED_APPROVALS[self.outcome]


def _matches(rule: PolicyRule, facts: ActionFacts) -> list[str] | None:
    """The reasons this rule applies, or None if one of its conditions does not hold."""
    reasons: list[str] = []
    if rule.kinds:
        if facts.kind not in rule.kinds:
            return None
        reasons.append(f"action is {facts.kind}")
    if rule.domains and facts.domain not in rule.domains:
        return None
    if rule.risk_at_least is not None:
        if RISK_ORDER.get(facts.risk_level, 0) < RISK_ORDER[rule.risk_at_least]:
            return None
        reasons.append(f"risk {facts.risk_level} (≥ {rule.risk_at_least})")
    if rule.confidence_below is not None:
        trusted = rule.confidence_sources or TRUSTED_CONFIDENCE_SOURCES
        if facts.confidence_source in trusted:
            if not facts.confidence < rule.confidence_below:
                return None
            reasons.append(f"confidence {facts.confidence:.2f} below {rule.confidence_below:.2f}")
        elif rule.outcome == PolicyOutcome.AUTO:
            # An untrusted confidence never satisfies a rule that lets an action through.
            return None
        else:
            # ...and never talks a rule asking for a person out of it: it counts as low.
            said = _SOURCE_WORDS.get(facts.confidence_source, f"from {facts.confidence_source!r}")
            reasons.append(
                f"confidence {facts.confidence:.2f} {said}, not trusted: taken as below "
                f"{rule.confidence_below:.2f}"
            )
    if rule.score_at_least is not None:
        if facts.score is None or facts.score < rule.score_at_least:
            return None
        reasons.append(f"score {facts.score} (≥ {rule.score_at_least})")
    if rule.deal_value_at_least is not None:
        if facts.deal_value is None or facts.deal_value < rule.deal_value_at_least:
            return None
        reasons.append(f"deal value {facts.deal_value:,.0f} (≥ {rule.deal_value_at_least:,.0f})")
    if rule.account_value_at_least is not None:
        if facts.account_value is None or facts.account_value < rule.account_value_at_least:
            return None
        reasons.append(f"account value {facts.account_value:,.0f} (≥ {rule.account_value_at_least:,.0f})")
    if rule.bulk_size_at_least is not None:
        if facts.bulk_size < rule.bulk_size_at_least:
            return None
        reasons.append(f"bulk change of {facts.bulk_size} records (≥ {rule.bulk_size_at_least})")
    if rule.compliance_flags_any:
        hits = sorted(rule.compliance_flags_any & facts.compliance_flags)
        if not hits:
            return None
        reasons.append(f"message flagged for {', '.join(hits)} language")
    if rule.drift_states:
        if facts.drift_state not in rule.drift_states:
            return None
        reasons.append(f"model drift state is {facts.drift_state}")
    if rule.ownership_change is not None:
        if facts.ownership_change != rule.ownership_change:
            return None
        if rule.ownership_change:
            reasons.append("changes the record's owner")
    return reasons


#: Kinds no policy may let through without a person (a controlled configuration change).
ALWAYS_HUMAN_KINDS = frozenset({"config_change"})
#: Risk levels no policy may let through without a person: an irreversible or sensitive change (the
#: support bot marks everything on a human-only intent, such as a refund or a card block, critical).
ALWAYS_HUMAN_RISKS = frozenset({"critical"})


def evaluate_policy(facts: ActionFacts, rules: Sequence[PolicyRule]) -> PolicyDecision:
    """The policy's decision, with the floor that some kinds and critical risk always need a person."""
    decision = _evaluate(facts, rules)
    if decision.outcome == PolicyOutcome.AUTO and (
        facts.kind in ALWAYS_HUMAN_KINDS or facts.risk_level in ALWAYS_HUMAN_RISKS
    ):
        why = (
            "configuration changes always need a second person"
            if facts.kind in ALWAYS_HUMAN_KINDS
            else "critical-risk actions always need a person"
        )
        return PolicyDecision(
            PolicyOutcome.ONE_APPROVAL,
            (*decision.reasons, why),
            decision.rules,
            decision.approver_group,
            decision.sla_minutes,
            decision.timeout_action,
        )
    return decision


def _evaluate(facts: ActionFacts, rules: Sequence[PolicyRule]) -> PolicyDecision:
    """Decide what an action needs. The strictest matching rule wins; reasons of all matches are kept.

    Without a matching rule, read-only actions run on their own and writes need one approval:
    nothing writes to a system of record unless a policy explicitly allows it.
    """
    matched: list[tuple[PolicyRule, list[str]]] = []
    for rule in sorted(rules, key=lambda r: (r.priority, r.name)):
        reasons = _matches(rule, facts)
        if reasons is not None:
            matched.append((rule, reasons))
    if not matched:
        if facts.read_only:
            return PolicyDecision(PolicyOutcome.AUTO, ("read-only action; no policy requires a human",), ())
        return PolicyDecision(
            PolicyOutcome.ONE_APPROVAL, ("writes need an approval unless a policy allows them",), ()
        )
    strictest = max(STRICTNESS[PolicyOutcome(rule.outcome)] for rule, _ in matched)
    winners = [
        (rule, reasons) for rule, reasons in matched if STRICTNESS[PolicyOutcome(rule.outcome)] == strictest
    ]
    lead_rule = winners[0][0]
    all_reasons = tuple(
        f"{rule.name}: {'; '.join(reasons) if reasons else 'applies to every action'}"
        for rule, reasons in matched
    )
    slas = [rule.sla_minutes for rule, _ in winners if rule.sla_minutes]
    return PolicyDecision(
        outcome=PolicyOutcome(lead_rule.outcome),
        reasons=all_reasons,
        rules=tuple(rule.name for rule, _ in matched),
        approver_group=next((rule.approver_group for rule, _ in winners if rule.approver_group), ""),
        sla_minutes=min(slas) if slas else None,
        timeout_action=lead_rule.timeout_action,
    )
