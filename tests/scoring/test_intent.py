"""Unit tests for scoring.intent (pure: no database)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from scoring import intent
from scoring.intent import DataError, Examples, Prediction

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "banking77" / "train.csv"


@pytest.fixture(scope="module")
def banking77() -> Examples:
    return intent.read_examples(FIXTURE)


@pytest.fixture(scope="module")
def small_model(banking77):
    """A model on 12 examples of each of the first 6 intents: seconds, not a minute."""
    wanted = sorted(set(banking77.labels))[:6]
    rows = [i for i in intent.first_per_label(banking77.labels, 12) if banking77.labels[i] in wanted]
    sample = banking77.subset(rows)
    return intent.fit_intent_model(sample.texts, sample.labels, params={"folds": 3})


def test_it_reads_the_shared_file(banking77):
    assert len(banking77) == 10_003
    assert len(set(banking77.labels)) == 77
    assert banking77.lines[0] == 2
    assert (banking77.texts[0], banking77.labels[0]) == ("I am still waiting on my card?", "card_arrival")


def test_the_split_is_deterministic_stratified_and_hashed(banking77):
    first = intent.split_examples(banking77)
    again = intent.split_examples(banking77)
    assert np.array_equal(first.train, again.train) and np.array_equal(first.holdout, again.holdout)
    assert first.sha256 == again.sha256
    assert len(first.holdout) == pytest.approx(0.2 * len(banking77), abs=77)
    assert not set(first.train) & set(first.holdout)
    assert len(first.train) + len(first.holdout) == len(banking77)
    labels = np.asarray(banking77.labels)
    for label in ("card_arrival", "terminate_account"):
        share = (labels[first.holdout] == label).sum() / (labels == label).sum()
        assert share == pytest.approx(0.2, abs=0.02)


def test_another_seed_gives_another_split_and_hash(banking77):
    first = intent.split_examples(banking77, seed=0)
    other = intent.split_examples(banking77, seed=1)
    assert not np.array_equal(first.holdout, other.holdout)
    assert first.sha256 != other.sha256


def test_the_curve_on_a_hand_made_example():
    correct = np.array([True, True, False, True, False])
    confidence = np.array([0.95, 0.8, 0.7, 0.5, 0.2])
    curve = {
        p["threshold"]: p
        for p in intent.coverage_curve(correct, confidence, thresholds=[0.0, 0.6, 0.75, 0.9, 0.99])
    }
    assert curve[0.0] == {"threshold": 0.0, "coverage": 1.0, "precision": 0.6}
    assert curve[0.6] == {"threshold": 0.6, "coverage": 0.6, "precision": pytest.approx(2 / 3, abs=1e-6)}
    assert curve[0.75] == {"threshold": 0.75, "coverage": 0.4, "precision": 1.0}
    assert curve[0.9] == {"threshold": 0.9, "coverage": 0.2, "precision": 1.0}
    assert curve[0.99] == {"threshold": 0.99, "coverage": 0.0, "precision": None}


def test_the_default_curve_runs_from_0_to_0_99():
    curve = intent.coverage_curve(np.array([True]), np.array([0.5]))
    assert [p["threshold"] for p in curve][:3] == [0.0, 0.01, 0.02]
    assert curve[-1]["threshold"] == 0.99 and len(curve) == 100


def test_the_threshold_for_a_precision_answers_as_many_as_possible():
    correct = np.array([True, True, False, True, True, False])
    confidence = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert intent.threshold_for_precision(confidence, correct, 1.0) == 0.8
    assert intent.threshold_for_precision(confidence, correct, 0.8) == 0.5
    assert intent.threshold_for_precision(confidence, np.zeros(6, dtype=bool), 0.5) == 1.0


def test_the_threshold_never_cuts_between_equal_confidences():
    correct = np.array([True, False, True])
    confidence = np.array([0.9, 0.9, 0.5])
    assert intent.threshold_for_precision(confidence, correct, 1.0) == 1.0


def test_per_intent_thresholds_decide_what_is_answered():
    answered = intent.answered(
        ["a", "b", "c"], np.array([0.6, 0.6, 0.6]), default=0.5, thresholds={"a": 0.7, "b": 0.6}
    )
    assert answered.tolist() == [False, True, True]


def test_evaluate_reports_accuracy_macro_f1_and_coverage_at_the_threshold():
    labels = ["a", "a", "b", "b"]
    predictions = [Prediction("a", 0.9), Prediction("b", 0.4), Prediction("b", 0.8), Prediction("b", 0.95)]
    result = intent.evaluate(labels, predictions, default=0.5)
    assert result["accuracy"] == 0.75
    # a: P=1, R=1/2 → F1 2/3; b: P=2/3, R=1 → F1 0.8
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert result["per_intent_f1"] == {"a": pytest.approx(2 / 3, abs=1e-6), "b": pytest.approx(0.8)}
    assert result["coverage"] == 0.75 and result["precision"] == 1.0


def test_what_if_changes_one_intent_and_keeps_the_others():
    labels = ["a", "a", "b", "b"]
    predicted = ["a", "b", "b", "b"]
    confidence = [0.9, 0.4, 0.8, 0.95]
    result = intent.what_if(labels, predicted, confidence, intent="b", threshold=0.3, default=0.5)
    assert result["predicted"] == 3 and result["answered"] == 3 and result["labelled"] == 2
    assert result["coverage"] == 1.0 and result["precision"] == pytest.approx(2 / 3)
    assert result["overall_coverage"] == 1.0 and result["overall_precision"] == 0.75
    strict = intent.what_if(labels, predicted, confidence, intent="b", threshold=0.99, default=0.5)
    assert strict["answered"] == 0 and strict["precision"] is None and strict["coverage"] == 0.0
    assert strict["overall_coverage"] == 0.25


def test_contributions_add_up_to_the_decision_value(small_model):
    model = small_model.model
    text = "I am still waiting for my new card, when will it arrive?"
    explanation = model.explain(text)
    decision = model.decision([text])[0]
    k = model.classes.index(explanation.intent)
    assert explanation.intent == model.predict([text])[0].intent
    assert explanation.decision == pytest.approx(decision[k], abs=1e-6)
    # The TF-IDF features and the sentence vector's share make up the whole decision value ...
    assert intent.EMBEDDING_FEATURE in explanation.features
    assert explanation.intercept + sum(explanation.features.values()) == pytest.approx(decision[k], abs=1e-6)
    # ... and the words share out exactly the same total, the sentence vector's part included.
    assert sum(v for _, v in explanation.words) == pytest.approx(sum(explanation.features.values()), abs=1e-6)
    assert {w for w, _ in explanation.words} >= {"waiting", "card", "arrive"}


def test_the_sentence_vectors_share_goes_to_the_words_its_tokens_are_in():
    # [CLS]/[SEP] (no characters) and the lone "?" belong to no word: shared equally over all words.
    spans = [(0, 0), (0, 3), (4, 8), (9, 11), (12, 13), (0, 0)]
    tokens = np.array([0.3, 1.0, 0.5, 0.2, 0.4, 0.3])
    shares = intent._embedding_words("Why £5.5 ok ?", spans, tokens, normalised=True)
    # "£5.5" normalises to "currencysign 0": its tokens' 0.5 is halved; the 1.0 of loose parts over 4 words.
    assert shares == pytest.approx({"why": 1.25, "currencysign": 0.5, "0": 0.5, "ok": 0.45})
    assert sum(shares.values()) == pytest.approx(tokens.sum())
    assert intent._embedding_words("?!", [(0, 0), (0, 2), (0, 0)], np.ones(3), normalised=True) == {
        "(text)": 3.0
    }


def test_contributions_can_explain_another_intent(small_model):
    model = small_model.model
    other = model.classes[-1]
    explanation = model.explain("my card is late", intent=other)
    assert explanation.intent == other
    assert explanation.intercept + sum(explanation.features.values()) == pytest.approx(explanation.decision)


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("I can't see the £25.50 I topped up!", "i ca not see the currencysign 0 i topped up"),
        ("Where's my card?? Ordered 3/11", "where s my card ordered 0 0"),
        ("  EXCHANGE   rate for $100,000  ", "exchange rate for currencysign 0"),
    ],
)
def test_it_normalises_case_numbers_currencies_and_punctuation(text, normalised):
    assert intent.normalise(text) == normalised


def test_the_tfidf_block_reads_normalised_text(small_model):
    model = small_model.model
    # Different amounts, currencies and punctuation are the same text to the TF-IDF block (the
    # sentence encoder reads the raw text, as it was trained to).
    texts = ["I was charged £5 for my top-up!", "i was charged $17.20 for my top up"]
    first, second = model.vectorizer.transform(texts) @ model.coef.T
    assert np.allclose(first, second)
    words = {w for w, _ in model.explain("Why was I charged £5?").words}
    assert "currencysign" in words and "£5" not in words and "charged" in words


def test_the_default_threshold_is_rounded_up_to_three_decimals(small_model):
    assert small_model.threshold == round(small_model.threshold, 3)


def test_confidences_are_probabilities(small_model):
    proba = small_model.model.probabilities(["where is my card", "top up failed"])
    assert proba.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert 0 < small_model.threshold <= 1


def test_the_artifact_round_trips(small_model):
    payload, sha256 = intent.dump_model(small_model.model)
    assert sha256 == hashlib.sha256(payload).hexdigest()
    loaded = intent.load_model(payload, sha256)
    texts = ["where is my card", "I want my money back"]
    assert loaded.classes == small_model.model.classes
    assert np.allclose(loaded.probabilities(texts), small_model.model.probabilities(texts))
    assert loaded.explain(texts[0]).words == small_model.model.explain(texts[0]).words


def test_it_refuses_an_artifact_whose_hash_does_not_match(small_model):
    payload, sha256 = intent.dump_model(small_model.model)
    with pytest.raises(ValueError, match="sha256 does not match"):
        intent.load_model(payload + b"x", sha256)
    with pytest.raises(ValueError, match="sha256 does not match"):
        intent.load_model(payload, "")


def test_a_tfidf_only_version_1_artifact_still_loads(small_model):
    import pickle

    old = intent.IntentModel(
        small_model.model.vectorizer, small_model.model.coef, small_model.model.intercept,
        small_model.model.classes, small_model.model.temperature, {"normalise": True},
    )  # fmt: skip
    state = old.__getstate__()
    del state["coef_embedding"]  # version 1 models had no such attribute
    old.__dict__ = state
    payload = pickle.dumps(("agentops-intent-v1", old))
    loaded = intent.load_model(payload, hashlib.sha256(payload).hexdigest())
    assert loaded.coef_embedding is None
    expected = small_model.model.vectorizer.transform(["where is my card"]) @ small_model.model.coef.T
    assert np.allclose(loaded.decision(["where is my card"]), expected + small_model.model.intercept)


def test_it_refuses_a_model_trained_with_other_encoder_weights(small_model):
    import copy

    other = copy.copy(small_model.model)
    other.params = {**other.params, "encoder_sha256": "0" * 64}
    payload, sha256 = intent.dump_model(other)
    with pytest.raises(ValueError, match="trained with encoder weights 0{64}, installed are 53aa5117"):
        intent.load_model(payload, sha256)


def test_it_refuses_a_pickle_that_is_not_an_intent_artifact():
    import pickle

    payload = pickle.dumps({"not": "a model"})
    with pytest.raises(ValueError, match="not an agentops-intent-v2 artifact"):
        intent.load_model(payload, hashlib.sha256(payload).hexdigest())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,label\nhello,card_arrival\n", "missing column 'category'"),
        ("words,category\nhello,card_arrival\n", "missing column 'text'"),
        ("text,category\nhello,card_arrival\n,card_arrival\n", "line 3: column 'text' is empty"),
        ("text,category\nhello,card_arrival\nhi,  \n", "line 3: column 'category' is empty"),
        ("text,category\nhello,card_arrival,extra\n", "line 2: more values than the 2 columns"),
        ("text,category\n", "no data rows"),
        ("", "missing column 'text', 'category'"),
    ],
)
def test_a_bad_file_names_the_column_and_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        intent.read_examples(path)
    assert str(caught.value).startswith("bad.csv")


def test_a_file_that_is_not_utf8_is_a_data_error(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,category\ncaf\xe9,card_arrival\n".encode("latin-1"))
    with pytest.raises(DataError, match="cannot read the file"):
        intent.read_examples(path)


def test_first_per_label_keeps_file_order():
    assert intent.first_per_label(["a", "b", "a", "a", "b"], 2) == [0, 1, 2, 4]
