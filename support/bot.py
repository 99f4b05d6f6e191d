"""The support bot's decisions, pure (no ORM): what to do with one classified ticket, the reply drafted
from the knowledge base, and the handoff summary a support lead reads.

The order of the rules is the policy, and the safety rules come first:

1. No champion intent model → hand off (the bot never acts on an unpromoted model).
2. The intent requires a person (refunds, card blocks, disputes, identity, closure…) → hand off,
   *sensitive*: whatever else is set, even if someone also marked it safe (``requires_human`` wins).
3. The intent is not marked safe, or the confidence is below its threshold → hand off.
4. No published article for the intent → hand off.
5. The article needs the customer's account and it has not been read → look it up (read-only); no
   account to read, or a lookup that did not run → hand off.
6. Diagnostics the article needs are missing → ask for them once (the questions fragment); still
   missing after asking → hand off.
7. Otherwise → answer from the published reply fragment plus merge fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sales.templating import TemplateError, render

__all__ = [
    "ANSWER",
    "ASK",
    "HANDOFF",
    "LOOKUP",
    "MERGE_FIELDS",
    "ArticleView",
    "BotDecision",
    "BotInput",
    "PolicyView",
    "TemplateError",
    "decide",
    "draft",
    "handoff_summary",
    "summary_text",
]

ANSWER = "answer"
ASK = "ask"
LOOKUP = "lookup"
HANDOFF = "handoff"

#: The merge fields a reply fragment may use (the support bot's sandbox; nothing else is reachable).
MERGE_FIELDS: dict[str, str] = {
    "first_name": "The requester's first name.",
    "requester_name": "The requester's full name.",
    "ticket_ref": "The ticket's id in the helpdesk.",
    "account_name": "The customer's account name (account lookup).",
    "plan": "The account's plan (account lookup).",
    "billing_status": "The account's billing status (account lookup).",
    "card_last4": "Last four digits of the card the customer asked about (diagnostics).",
}
SUMMARY_LIMIT = 2000  # the handoff_to_human payload's summary field


@dataclass(frozen=True)
class PolicyView:
    """The intent's ``support.IntentPolicy`` as the bot sees it."""

    threshold: float
    is_safe: bool
    requires_human: bool


@dataclass(frozen=True)
class ArticleView:
    """The intent's published article version and its fragments."""

    label: str  # e.g. "card_arrival v2"
    reply: str
    questions: str = ""
    diagnostics: tuple[str, ...] = ()
    needs_account_lookup: bool = False


@dataclass(frozen=True)
class BotInput:
    model_version: str | None  # the champion's label; None when there is no champion
    intent: str = ""
    confidence: float = 0.0
    policy: PolicyView | None = None
    article: ArticleView | None = None
    diagnostics: Mapping[str, str] = field(default_factory=dict)
    asked: bool = False  # the bot already asked this ticket for diagnostics
    has_account: bool = False
    lookup: Mapping[str, str] | None = None  # what the read-only lookup returned; None if not run
    lookup_refused: str = ""  # why a lookup did not run (e.g. waiting for an approval)


@dataclass(frozen=True)
class BotDecision:
    step: str  # ANSWER, ASK, LOOKUP or HANDOFF
    reasons: tuple[str, ...]
    sensitive: bool = False  # a human-only intent: every write it leads to needs a person
    missing: tuple[str, ...] = ()  # diagnostics to ask for


def decide(given: BotInput) -> BotDecision:
    """What the bot does next with one ticket (see the module docstring for the rules, in order)."""
    if given.model_version is None:
        return BotDecision(
            HANDOFF, ("no champion intent model: the bot does not act on an unpromoted model",)
        )
    policy = given.policy
    intent, confidence = given.intent, given.confidence
    if policy is None:
        return BotDecision(HANDOFF, (f"no policy for intent {intent}: not safe until someone marks it so",))
    if policy.requires_human:
        return BotDecision(
            HANDOFF,
            (f"{intent} implies an irreversible or sensitive change: always handled by a person",),
            sensitive=True,
        )
    if not policy.is_safe:
        return BotDecision(HANDOFF, (f"{intent} is not marked safe for automatic answers",))
    if confidence < policy.threshold:
        return BotDecision(
            HANDOFF, (f"confidence {confidence:.2f} below {intent}'s threshold {policy.threshold:.2f}",)
        )
    article = given.article
    if article is None:
        return BotDecision(HANDOFF, (f"no published knowledge-base article for {intent}",))
    confident = f"{intent} at confidence {confidence:.2f} (threshold {policy.threshold:.2f})"
    if article.needs_account_lookup and given.lookup is None:
        if not given.has_account:
            return BotDecision(HANDOFF, (f"{article.label} needs the customer's account; none is linked",))
        if given.lookup_refused:
            return BotDecision(HANDOFF, (f"account lookup did not run: {given.lookup_refused}",))
        return BotDecision(LOOKUP, (confident, f"{article.label} needs the customer's account (read-only)"))
    missing = tuple(name for name in article.diagnostics if not str(given.diagnostics.get(name, "")).strip())
    if missing:
        if given.asked or not article.questions:
            return BotDecision(
                HANDOFF, (f"diagnostics still missing: {', '.join(missing)}",), missing=missing
            )
        return BotDecision(ASK, (confident, f"asking for {', '.join(missing)}"), missing=missing)
    return BotDecision(ANSWER, (confident, f"answered from {article.label}"))


def draft(template: str, values: Mapping[str, object]) -> str:
    """A reply from a published fragment and the ticket's merge fields; a used field without a value
    raises ``TemplateError`` naming it (never an empty hole in what the customer reads)."""
    return render(template, values, MERGE_FIELDS, subject="ticket")


def handoff_summary(
    *,
    given: BotInput,
    decision: BotDecision,
    asked: str,
    words: Sequence[tuple[str, float]],
    suggested_reply: str = "",
) -> dict[str, Any]:
    """What a support lead needs to pick the ticket up without re-reading it."""
    return {
        "intent": given.intent,
        "confidence": round(given.confidence, 4) if given.model_version else None,
        "model_version": given.model_version or "",
        "why_words": [[word, round(value, 4)] for word, value in words],
        "customer_asked": asked,
        "diagnostics": dict(given.diagnostics),
        "account": dict(given.lookup or {}),
        "suggested_reply": suggested_reply,
        "article": given.article.label if given.article else "",
        "reasons": list(decision.reasons),
        "sensitive": decision.sensitive,
    }


def summary_text(summary: Mapping[str, Any]) -> str:
    """The summary as plain lines for the handoff's payload (at most ``SUMMARY_LIMIT`` characters)."""
    words = ", ".join(f"{w} ({v:+.2f})" for w, v in summary["why_words"]) or "—"
    confidence = "—" if summary["confidence"] is None else f"{summary['confidence']:.2f}"
    lines = [
        f"Intent: {summary['intent'] or '—'} (confidence {confidence}, model {summary['model_version'] or 'none'})",
        f"Why: {'; '.join(summary['reasons'])}",
        f"Words that drove the prediction: {words}",
        f"Diagnostics: {_pairs(summary['diagnostics'])}",
        f"Account: {_pairs(summary['account'])}",
        f"Article: {summary['article'] or '—'}",
        f"Suggested reply: {summary['suggested_reply'] or '—'}",
        f"Customer asked: {summary['customer_asked']}",
    ]
    text = "\n".join(lines)
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def _pairs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in values.items()) or "—"
