"""Playbook rules: which leads get which proposed actions, and why. Pure (no ORM).

A rule is data (``PlaybookRule`` in the admin): a small declarative spec of *conditions* that must
all hold (unset ones are ignored) and a list of *actions* to propose when they do. This module
parses and validates both (``RuleSpecError`` names the offending field, e.g.
``conditions.score_at_least``), evaluates rules against one lead's facts in priority order, and
words the rationale an approver reads. The services gather the facts in bulk and store proposals.

Conditions (all optional, at least one required)::

    score_at_least: int 0–100          acting score ≥ n
    score_below: int 1–101             acting score < n (so 50–79 is at_least 50, below 80)
    tiers: ["hot", "warm", "cold"]      acting tier is one of these
    statuses: ["new", ...]              lead status is one of these
    uncontacted: bool                   status is "new" (the CRM's "not yet contacted")
    owner: "none" | "set" | "any"       lead has no owner / has one / either
    has_open_opportunity: bool          the CRM says the lead has an open opportunity
    score_drop_percent_above: number    acting score fell by more than n % from its highest point
    score_drop_window_days: int 1–90    ... within this many days (required with the above)
    attributes: {"key": [values]}       lead.attributes[key] is one of the values

Actions (a non-empty list)::

    {"kind": "enrol_cadence", "payload": {...}, "risk_level": "medium",
     "confidence": 0.9, "rationale": "Score {score} ({tier}); {reasons}"}

``payload`` is checked against the kind's allow-listed schema (``approvals.schemas``). The
rationale is optional; placeholders: {score} {tier} {rule} {conditions} {reasons} {peak} {drop}.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from approvals.schemas import PayloadError, reserved_kind_refusal, validate_payload

TIERS = ("hot", "warm", "cold")
STATUSES = ("new", "contacted", "nurturing", "qualified", "converted", "disqualified")
UNCONTACTED_STATUS = "new"
OWNER_CHOICES = ("none", "set", "any")
RISK_LEVELS = ("low", "medium", "high", "critical")
DEFAULT_CONFIDENCE = 0.9
DEFAULT_RISK = "medium"
MAX_ACTIONS = 10
MAX_WINDOW_DAYS = 90
PLACEHOLDERS = frozenset({"score", "tier", "rule", "conditions", "reasons", "peak", "drop"})
CONDITION_KEYS = (
    "score_at_least",
    "score_below",
    "tiers",
    "statuses",
    "uncontacted",
    "owner",
    "has_open_opportunity",
    "score_drop_percent_above",
    "score_drop_window_days",
    "attributes",
)


class RuleSpecError(ValueError):
    """A rule's conditions or actions do not fit the spec; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class Conditions:
    score_at_least: int | None = None
    score_below: int | None = None
    tiers: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    uncontacted: bool | None = None
    owner: str = "any"
    has_open_opportunity: bool | None = None
    score_drop_percent_above: float | None = None
    score_drop_window_days: int | None = None
    attributes: Mapping[str, frozenset[Any]] = field(default_factory=dict)

    @property
    def needs_score(self) -> bool:
        return bool(
            self.score_at_least is not None
            or self.score_below is not None
            or self.tiers
            or self.score_drop_percent_above is not None
        )


@dataclass(frozen=True)
class ActionSpec:
    kind: str
    payload: Mapping[str, Any]
    risk_level: str = DEFAULT_RISK
    confidence: float = DEFAULT_CONFIDENCE
    rationale: str = ""


@dataclass(frozen=True)
class RuleSpec:
    """One active rule as the evaluator sees it. ``version`` changes whenever its content does."""

    id: int
    name: str
    conditions: Conditions
    actions: tuple[ActionSpec, ...]
    priority: int = 100
    stop_processing: bool = False
    version: str = ""
    playbook_id: int = 0
    control_share: float = 0.0
    canary_of: int | None = None  # the live rule this one is trying to replace on a share of leads
    canary_share: float = 0.0
    shadow: bool = False  # evaluated and logged, never proposes


@dataclass(frozen=True)
class LeadFacts:
    """What the rules look at for one lead, gathered in bulk by the services.

    ``history`` holds the lead's acting scores as ``(scored_at, score_id, score)``, oldest first,
    at least as far back as the longest drop window of the rules evaluated.
    """

    id: int
    status: str
    owner_id: int | None = None
    has_open_opportunity: bool = False
    attributes: Mapping[str, Any] = field(default_factory=dict)
    score: int | None = None
    tier: str = ""
    score_id: int | None = None
    model_version_id: int | None = None
    model_version: str = ""
    reasons: tuple[str, ...] = ()
    history: tuple[tuple[datetime, int, int], ...] = ()


@dataclass(frozen=True)
class Match:
    """One action a rule proposes for one lead, with the rationale in plain words."""

    rule: RuleSpec
    action: ActionSpec
    lead_id: int
    conditions: tuple[str, ...]
    rationale: str
    drop: tuple[int, int] | None = None  # (peak, latest) when a score-drop condition matched


# --- Parsing -----------------------------------------------------------------------------------


def _int(path: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise RuleSpecError(path, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise RuleSpecError(path, f"must be between {low} and {high}, got {value}")
    return value


def _bool(path: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise RuleSpecError(path, f"must be true or false, got {value!r}")
    return value


def _choices(path: str, value: object, allowed: Sequence[str]) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise RuleSpecError(path, f"must be a non-empty list of {', '.join(allowed)}")
    for item in value:
        if item not in allowed:
            raise RuleSpecError(path, f"{item!r} is not one of {', '.join(allowed)}")
    return frozenset(value)


def parse_conditions(raw: object) -> Conditions:
    """Validate a conditions object; ``RuleSpecError`` names the first bad field."""
    if not isinstance(raw, dict):
        raise RuleSpecError("conditions", "must be an object")
    for key in raw:
        if key not in CONDITION_KEYS:
            raise RuleSpecError(
                f"conditions.{key}", f"unknown condition (allowed: {', '.join(CONDITION_KEYS)})"
            )
    if not raw:
        raise RuleSpecError(
            "conditions", "at least one condition is required (a rule for every lead is a mistake)"
        )
    values: dict[str, Any] = {}
    if "score_at_least" in raw:
        values["score_at_least"] = _int("conditions.score_at_least", raw["score_at_least"], 0, 100)
    if "score_below" in raw:
        values["score_below"] = _int("conditions.score_below", raw["score_below"], 1, 101)
    if values.get("score_at_least") is not None and values.get("score_below") is not None:
        if values["score_below"] <= values["score_at_least"]:
            raise RuleSpecError("conditions.score_below", "must be above score_at_least (no score fits)")
    if "tiers" in raw:
        values["tiers"] = _choices("conditions.tiers", raw["tiers"], TIERS)
    if "statuses" in raw:
        values["statuses"] = _choices("conditions.statuses", raw["statuses"], STATUSES)
    for key in ("uncontacted", "has_open_opportunity"):
        if key in raw:
            values[key] = _bool(f"conditions.{key}", raw[key])
    if "owner" in raw:
        if raw["owner"] not in OWNER_CHOICES:
            raise RuleSpecError("conditions.owner", f"must be one of {', '.join(OWNER_CHOICES)}")
        values["owner"] = raw["owner"]
    drop, window = raw.get("score_drop_percent_above"), raw.get("score_drop_window_days")
    if drop is not None or window is not None:
        path = "conditions.score_drop_percent_above"
        if drop is None:
            raise RuleSpecError(path, "is required with score_drop_window_days")
        if not isinstance(drop, int | float) or isinstance(drop, bool) or not 0 < drop < 100:
            raise RuleSpecError(path, f"must be a number above 0 and below 100, got {drop!r}")
        if window is None:
            raise RuleSpecError(
                "conditions.score_drop_window_days", "is required with score_drop_percent_above"
            )
        values["score_drop_percent_above"] = float(drop)
        values["score_drop_window_days"] = _int(
            "conditions.score_drop_window_days", window, 1, MAX_WINDOW_DAYS
        )
    if "attributes" in raw:
        attributes = raw["attributes"]
        if not isinstance(attributes, dict) or not attributes:
            raise RuleSpecError("conditions.attributes", 'must be an object like {"country": ["PT", "ES"]}')
        parsed: dict[str, frozenset[Any]] = {}
        for key, allowed in attributes.items():
            path = f"conditions.attributes.{key}"
            if not isinstance(allowed, list) or not allowed:
                raise RuleSpecError(path, "must be a non-empty list of values")
            if any(not isinstance(v, str | int | float | bool) for v in allowed):
                raise RuleSpecError(path, "values must be strings, numbers or booleans")
            parsed[key] = frozenset(allowed)
        values["attributes"] = parsed
    return Conditions(**values)


def parse_actions(raw: object) -> tuple[ActionSpec, ...]:
    """Validate the actions list, each payload against its kind's schema; errors name the field."""
    if not isinstance(raw, list) or not raw:
        raise RuleSpecError("actions", "must be a non-empty list of actions")
    if len(raw) > MAX_ACTIONS:
        raise RuleSpecError("actions", f"at most {MAX_ACTIONS} actions per rule, got {len(raw)}")
    specs = []
    for i, item in enumerate(raw):
        path = f"actions[{i}]"
        if not isinstance(item, dict):
            raise RuleSpecError(path, "must be an object with kind and payload")
        unknown = set(item) - {"kind", "payload", "risk_level", "confidence", "rationale"}
        if unknown:
            raise RuleSpecError(
                f"{path}.{sorted(unknown)[0]}",
                "unknown key (allowed: kind, payload, risk_level, confidence, rationale)",
            )
        reserved = reserved_kind_refusal(item.get("kind"))
        if reserved is not None:  # config_change: a rule's proposals would go to SDR managers
            raise RuleSpecError(f"{path}.kind", reserved.reason)
        try:
            payload = validate_payload(item.get("kind"), item.get("payload", {}))
        except PayloadError as exc:
            raise RuleSpecError(f"{path}.{exc.field}", exc.reason) from None
        risk = item.get("risk_level", DEFAULT_RISK)
        if risk not in RISK_LEVELS:
            raise RuleSpecError(f"{path}.risk_level", f"must be one of {', '.join(RISK_LEVELS)}")
        confidence = item.get("confidence", DEFAULT_CONFIDENCE)
        if (
            not isinstance(confidence, int | float)
            or isinstance(confidence, bool)
            or not 0 <= confidence <= 1
        ):
            raise RuleSpecError(f"{path}.confidence", f"must be a number from 0 to 1, got {confidence!r}")
        rationale = item.get("rationale", "")
        if not isinstance(rationale, str):
            raise RuleSpecError(f"{path}.rationale", "must be text")
        _check_template(f"{path}.rationale", rationale)
        specs.append(ActionSpec(item["kind"], payload, risk, float(confidence), rationale.strip()))
    return tuple(specs)


def _check_template(path: str, template: str) -> None:
    try:
        names = {name for _, name, spec, conv in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise RuleSpecError(
            path, f"not a valid template ({exc}); write {{{{ and }}}} for literal braces"
        ) from None
    unknown = sorted(n for n in names if n not in PLACEHOLDERS)
    if unknown:
        raise RuleSpecError(
            path, f"unknown placeholder {{{unknown[0]}}} (allowed: {', '.join(sorted(PLACEHOLDERS))})"
        )


# --- Evaluation --------------------------------------------------------------------------------


def score_drop(
    history: Sequence[tuple[datetime, int, int]], *, days: int, now: datetime
) -> tuple[int, int] | None:
    """(peak, latest) of the acting scores within ``days`` before ``now``, or None without any.

    Same reading as ``scoring.selectors.score_drops``: the newest score in the window against the
    highest one in it.
    """
    since = now - timedelta(days=days)
    window = [point for point in history if point[0] >= since]
    if not window:
        return None
    window.sort()
    return max(score for _, _, score in window), window[-1][2]


def drop_percent(peak: int, latest: int) -> float:
    return (peak - latest) / peak * 100 if peak > 0 else 0.0


def _conditions_hold(
    c: Conditions, facts: LeadFacts, now: datetime
) -> tuple[list[str], tuple[int, int] | None] | None:
    """The plain-word reasons the conditions hold, or None as soon as one does not."""
    words: list[str] = []
    drop: tuple[int, int] | None = None
    if c.needs_score and facts.score is None:
        return None
    if c.score_at_least is not None or c.score_below is not None:
        assert facts.score is not None
        if c.score_at_least is not None and facts.score < c.score_at_least:
            return None
        if c.score_below is not None and facts.score >= c.score_below:
            return None
        low = c.score_at_least if c.score_at_least is not None else 0
        if c.score_below is None:
            words.append(f"score {facts.score} (≥ {low})")
        else:
            words.append(f"score {facts.score} (between {low} and {c.score_below - 1})")
    if c.tiers:
        if facts.tier not in c.tiers:
            return None
        words.append(f"tier {facts.tier}")
    if c.statuses:
        if facts.status not in c.statuses:
            return None
        words.append(f"status {facts.status}")
    if c.uncontacted is not None:
        uncontacted = facts.status == UNCONTACTED_STATUS
        if uncontacted != c.uncontacted:
            return None
        words.append("not yet contacted" if uncontacted else "already contacted")
    if c.owner == "none":
        if facts.owner_id is not None:
            return None
        words.append("no owner yet")
    elif c.owner == "set":
        if facts.owner_id is None:
            return None
        words.append("has an owner")
    if c.has_open_opportunity is not None:
        if facts.has_open_opportunity != c.has_open_opportunity:
            return None
        words.append("has an open opportunity" if c.has_open_opportunity else "no open opportunity")
    if c.score_drop_percent_above is not None:
        assert c.score_drop_window_days is not None
        drop = score_drop(facts.history, days=c.score_drop_window_days, now=now)
        if drop is None or not drop_percent(*drop) > c.score_drop_percent_above:
            return None
        words.append(
            f"score fell from {drop[0]} to {drop[1]} ({drop_percent(*drop):.0f}% drop, "
            f"more than {c.score_drop_percent_above:g}% within {c.score_drop_window_days} days)"
        )
    for key, allowed in c.attributes.items():
        value = facts.attributes.get(key)
        if value is None or isinstance(value, list | dict) or value not in allowed:
            return None
        words.append(f"{key} is {value}")
    return words, drop


def rationale_for(
    rule: RuleSpec, action: ActionSpec, facts: LeadFacts, words: Sequence[str], drop: tuple[int, int] | None
) -> str:
    """The rationale an approver reads: the rule's template filled in, or a sentence built from the
    conditions that held and the score's top reasons."""
    reasons = "; ".join(facts.reasons[:3])
    values = {
        "score": "n/a" if facts.score is None else str(facts.score),
        "tier": facts.tier.capitalize() or "n/a",
        "rule": rule.name,
        "conditions": ", ".join(words),
        "reasons": reasons or "no explanation stored",
        "peak": str(drop[0]) if drop else "n/a",
        "drop": f"{drop_percent(*drop):.0f}%" if drop else "n/a",
    }
    if action.rationale:
        return action.rationale.format(**values)
    text = f"Playbook rule “{rule.name}” matched: {values['conditions']}."
    if facts.score is not None:
        text = f"{text[:-1]}; current score {facts.score} ({values['tier']})."
    if reasons:
        text += f" Top reasons: {reasons}."
    return text


def in_canary(*, rule_id: int, lead_id: int, share: float) -> bool:
    """Whether ``lead_id`` gets the canary of rule ``rule_id``: a stable ``share`` of leads."""
    digest = hashlib.sha256(f"rule-canary:{rule_id}:{lead_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def rules_for_lead(rules: Sequence[RuleSpec], lead_id: int) -> list[RuleSpec]:
    """The rules that apply to one lead: a canary replaces the rule it tries for its share of leads
    (the same leads on every run), and is left out for the others."""
    canaries = {r.canary_of: r for r in rules if r.canary_of is not None}
    if not canaries:
        return list(rules)
    chosen = []
    for rule in rules:
        if rule.canary_of is not None:
            if in_canary(rule_id=rule.canary_of, lead_id=lead_id, share=rule.canary_share):
                chosen.append(rule)
            continue
        canary = canaries.get(rule.id)
        if canary is None or not in_canary(rule_id=rule.id, lead_id=lead_id, share=canary.canary_share):
            chosen.append(rule)
    return chosen


def evaluate_rules(facts: LeadFacts, rules: Sequence[RuleSpec], *, now: datetime) -> list[Match]:
    """The actions the rules propose for one lead, in priority order (then name, then id).

    Every matching rule contributes its actions until one that matches has ``stop_processing``
    (a shadow rule never stops the others). Canaries replace their rule on their share of leads.
    """
    matches: list[Match] = []
    for rule in sorted(rules_for_lead(rules, facts.id), key=lambda r: (r.priority, r.name, r.id)):
        held = _conditions_hold(rule.conditions, facts, now)
        if held is None:
            continue
        words, drop = held
        matches.extend(
            Match(
                rule=rule,
                action=action,
                lead_id=facts.id,
                conditions=tuple(words),
                rationale=rationale_for(rule, action, facts, words, drop),
                drop=drop,
            )
            for action in rule.actions
        )
        if rule.stop_processing and not rule.shadow:
            break
    return matches


def longest_window_days(rules: Sequence[RuleSpec]) -> int:
    """How much score history the rules need (0 when none looks at drops)."""
    return max((r.conditions.score_drop_window_days or 0 for r in rules), default=0)


def rule_version(conditions: object, actions: object) -> str:
    """A short fingerprint of a rule's content: editing conditions or actions changes it."""
    canonical = json.dumps([conditions, actions], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def idempotency_key(match: Match, facts: LeadFacts) -> str:
    """The proposal's key: rule, rule content, lead, kind, exact payload and the scoring model version.

    Re-running with nothing changed yields the same keys (nothing new is stored). A lead whose
    score moves while it still fits the rule is *not* proposed again, or a hot lead would be
    enrolled once per re-score; a new model version, or an edit of the rule, may propose again.
    """
    content = json.dumps(
        [
            match.rule.id,
            match.rule.version,
            match.lead_id,
            match.action.kind,
            match.action.payload,
            facts.model_version_id,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return "playbook:" + hashlib.sha256(content.encode()).hexdigest()
