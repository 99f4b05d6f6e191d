"""The support bot's pure decisions: every rule, in order, and the safety rules first."""

from __future__ import annotations

from dataclasses import replace

import pytest

from support.bot import (
    ANSWER,
    ASK,
    HANDOFF,
    LOOKUP,
    SUMMARY_LIMIT,
    ArticleView,
    BotDecision,
    BotInput,
    PolicyView,
    TemplateError,
    decide,
    draft,
    handoff_summary,
    summary_text,
)

SAFE = PolicyView(threshold=0.9, is_safe=True, requires_human=False)
HUMAN = PolicyView(threshold=0.9, is_safe=False, requires_human=True)
ARTICLE = ArticleView(label="card_arrival v2", reply="Hi {{ first_name }}, it is on its way.")
CONFIDENT = BotInput(model_version="intent:banking77 v3", intent="card_arrival", confidence=0.97,
                     policy=SAFE, article=ARTICLE)  # fmt: skip


def test_it_answers_a_confident_safe_intent_with_a_published_article():
    decision = decide(CONFIDENT)
    assert decision.step == ANSWER and not decision.sensitive
    assert "answered from card_arrival v2" in decision.reasons


def test_it_hands_off_without_a_champion_whatever_else_holds():
    decision = decide(replace(CONFIDENT, model_version=None))
    assert decision.step == HANDOFF
    assert "no champion intent model" in decision.reasons[0]


def test_it_hands_off_an_intent_without_a_policy():
    assert decide(replace(CONFIDENT, policy=None)).step == HANDOFF


@pytest.mark.parametrize("confidence", [0.0, 0.5, 0.999, 1.0])
@pytest.mark.parametrize("is_safe", [False, True])
def test_a_human_only_intent_is_always_handed_off_as_sensitive(confidence, is_safe):
    # requires_human wins over is_safe (the database forbids both; the decision does not rely on it).
    policy = PolicyView(threshold=0.0, is_safe=is_safe, requires_human=True)
    decision = decide(replace(CONFIDENT, policy=policy, confidence=confidence, lookup={"plan": "Pro"}))
    assert decision.step == HANDOFF and decision.sensitive
    assert "always handled by a person" in decision.reasons[0]


def test_it_hands_off_an_intent_not_marked_safe():
    decision = decide(replace(CONFIDENT, policy=replace(SAFE, is_safe=False)))
    assert decision.step == HANDOFF and not decision.sensitive


@pytest.mark.parametrize(("confidence", "step"), [(0.8999, HANDOFF), (0.9, ANSWER), (0.95, ANSWER)])
def test_it_answers_only_at_or_above_the_intents_threshold(confidence, step):
    decision = decide(replace(CONFIDENT, confidence=confidence))
    assert decision.step == step
    if step == HANDOFF:
        assert decision.reasons == (f"confidence {confidence:.2f} below card_arrival's threshold 0.90",)


def test_it_hands_off_when_there_is_no_published_article():
    decision = decide(replace(CONFIDENT, article=None))
    assert decision.step == HANDOFF
    assert decision.reasons == ("no published knowledge-base article for card_arrival",)


LOOKUP_ARTICLE = replace(ARTICLE, label="top_up_limits v1", needs_account_lookup=True)


def test_it_looks_the_account_up_before_an_answer_that_needs_it():
    given = replace(CONFIDENT, article=LOOKUP_ARTICLE, has_account=True)
    assert decide(given).step == LOOKUP
    assert decide(replace(given, lookup={"plan": "Pro"})).step == ANSWER


def test_it_hands_off_when_the_lookup_cannot_run():
    no_account = decide(replace(CONFIDENT, article=LOOKUP_ARTICLE))
    assert no_account.step == HANDOFF and "none is linked" in no_account.reasons[0]
    refused = decide(replace(CONFIDENT, article=LOOKUP_ARTICLE, has_account=True, lookup_refused="pending"))
    assert refused.reasons == ("account lookup did not run: pending",)


DIAGNOSTIC_ARTICLE = replace(
    ARTICLE, label="card_not_working v1", diagnostics=("card_last4",), questions="Last 4 digits?"
)


def test_it_asks_for_missing_diagnostics_once_then_hands_off():
    given = replace(CONFIDENT, article=DIAGNOSTIC_ARTICLE)
    asked = decide(given)
    assert asked.step == ASK and asked.missing == ("card_last4",)
    again = decide(replace(given, asked=True))
    assert again.step == HANDOFF and again.reasons == ("diagnostics still missing: card_last4",)
    blank = decide(replace(given, diagnostics={"card_last4": "  "}))
    assert blank.step == ASK


def test_it_answers_once_the_diagnostics_are_given():
    given = replace(CONFIDENT, article=DIAGNOSTIC_ARTICLE, diagnostics={"card_last4": "4821"}, asked=True)
    assert decide(given).step == ANSWER


def test_it_hands_off_missing_diagnostics_when_the_article_has_no_questions():
    given = replace(CONFIDENT, article=replace(DIAGNOSTIC_ARTICLE, questions=""))
    assert decide(given).step == HANDOFF


def test_a_draft_fills_merge_fields():
    assert draft(
        "Hi {{ first_name }}, card {{ card_last4 }}.", {"first_name": "Ana", "card_last4": "4821"}
    ) == ("Hi Ana, card 4821.")
    assert draft('Hi {{ first_name | "there" }}.', {}) == "Hi there."


def test_a_missing_merge_field_is_a_clear_error_never_an_empty_hole():
    with pytest.raises(TemplateError) as error:
        draft("Your plan is {{ plan }}.", {"plan": " "})
    assert str(error.value) == "plan: has no value for this ticket; fill it in or give a fallback"


def test_a_fragment_cannot_reach_beyond_the_support_merge_fields():
    with pytest.raises(TemplateError, match="unknown merge field"):
        draft("{{ unsubscribe_url }}", {"unsubscribe_url": "x"})
    with pytest.raises(TemplateError, match="is not a merge field"):
        draft("{{ ticket.account.owner }}", {})


def test_the_handoff_summary_names_intent_confidence_words_question_and_article():
    decision = BotDecision(HANDOFF, ("confidence 0.41 below card_arrival's threshold 0.90",))
    given = replace(CONFIDENT, confidence=0.41, diagnostics={"card_last4": "4821"})
    summary = handoff_summary(
        given=given, decision=decision, asked="Where is my card?", words=[("card", 1.23456), ("where", 0.5)],
        suggested_reply="Hi Ana",
    )  # fmt: skip
    assert summary["why_words"] == [["card", 1.2346], ["where", 0.5]]
    assert summary["article"] == "card_arrival v2" and summary["confidence"] == 0.41
    text = summary_text(summary)
    for part in ("card_arrival", "0.41", "card (+1.23)", "Where is my card?", "card_last4: 4821", "Hi Ana",
                 "card_arrival v2", "below card_arrival's threshold"):  # fmt: skip
        assert part in text


def test_the_summary_text_fits_the_handoff_payload():
    given = replace(CONFIDENT, model_version=None)
    summary = handoff_summary(given=given, decision=decide(given), asked="x" * 5000, words=[])
    text = summary_text(summary)
    assert len(text) == SUMMARY_LIMIT and text.endswith("…")
    assert "model none" in text and summary["confidence"] is None
