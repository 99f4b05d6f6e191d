"""The support intent model: which of the 77 BANKING77 intents a ticket asks about, and how sure we are.

Pure (numpy, scipy, scikit-learn; no ORM), so every piece is unit-testable and fast.

- Text normalisation (``normalise``): lower case; currency signs become the word ``currencysign``
  and numbers (amounts, dates, card digits) the digit ``0``; contractions are spelt out; other
  punctuation goes. Measured with 5-fold cross-validation on the training split it answers about a
  point more tickets at the same precision (docs/benchmarks.md, "Intent model").
- Features: TF-IDF of word 1–3-grams and of character 1–5-grams inside word boundaries (the
  character n-grams carry the many misspellings of real support queries), on the normalised text;
  beside them the sentence vector of the raw text from a small pretrained encoder
  (all-MiniLM-L6-v2, ``scoring.encoder``), scaled by ``embedding_weight``. The encoder knows that
  "top up" and "add money" mean the same, which no n-gram of 8,000 queries can learn: on the
  training split's out-of-fold predictions it answers about 6 points more tickets at 97% precision
  (docs/benchmarks.md, "Intent model"). ``embedding_weight`` 0 gives the TF-IDF-only model.
- Classifier: a one-vs-rest linear SVM over both blocks. Its decision values become probabilities through a
  softmax with one temperature, fitted by log loss on out-of-fold decision values of the
  training split, so the confidence means what it says and the ranking of intents is unchanged.
- Default policy: one confidence threshold for every intent: the lowest confidence at which the
  out-of-fold predictions of the training split reach ``target_precision`` (98%: the lowest target
  at which nested cross-validation on the training split kept every outer fold at 97%), rounded up to three
  decimals (so the value seeded into ``support.IntentPolicy`` can be exactly the model's).
  Per-intent thresholds fitted the same way over-fit (chosen on four folds' out-of-fold
  predictions, they lose 0.2–0.6 points of precision and 1–3 points of coverage on the fifth), so
  per-intent values stay business settings (``support.IntentPolicy``).
- Evaluation: a deterministic stratified 80/20 split of the labelled file; the hold-out is never
  used for fitting, calibrating or choosing the threshold.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import pickle
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from scoring import encoder as sentence_encoder

ARTIFACT_FORMAT = "agentops-intent-v2"
# Version 1 artifacts (TF-IDF only, registered before the encoder) still load and predict.
READABLE_FORMATS = (ARTIFACT_FORMAT, "agentops-intent-v1")
SPLIT_SEED = 0
HOLDOUT_SHARE = 0.2
# The coverage/precision curve is reported at these confidence thresholds.
CURVE_THRESHOLDS = tuple(round(i / 100, 2) for i in range(100))
DEFAULT_PARAMS: dict[str, Any] = {
    "normalise": True,
    "word_ngrams": [1, 3],
    "char_ngrams": [1, 5],
    "char_min_df": 2,
    # The sentence vector's scale beside the TF-IDF block (0: no encoder). Chosen by out-of-fold
    # accuracy and coverage on the training split among 1, 2 and 3.
    "embedding_weight": 2.0,
    "C": 1.0,
    "folds": 5,
    # Reached by the training split's out-of-fold predictions at the default threshold. A point above
    # the product's 97% as a margin: in nested cross-validation (thresholds from inner out-of-fold
    # predictions applied to the average of the inner fold models) 98% is the lowest target that
    # kept every outer fold at 97% or more (docs/benchmarks.md).
    "target_precision": 0.98,
}
REQUIRED_COLUMNS = ("text", "category")


class DataError(ValueError):
    """A labelled file cannot be used; the message names the file, line and column."""


@dataclass(frozen=True)
class Examples:
    """Labelled texts in file order (``lines[i]`` is the 1-based line of example ``i``)."""

    texts: list[str]
    labels: list[str]
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Iterable[int]) -> Examples:
        index = list(index)
        lines = [self.lines[i] for i in index] if self.lines else []
        return Examples([self.texts[i] for i in index], [self.labels[i] for i in index], lines)

    @property
    def sha256(self) -> str:
        """Hash of the texts and labels in order (the data version recorded with a model)."""
        digest = hashlib.sha256()
        for text, label in zip(self.texts, self.labels, strict=True):
            digest.update(text.encode())
            digest.update(b"\x1f")
            digest.update(label.encode())
            digest.update(b"\x1e")
        return digest.hexdigest()


def read_examples(source: Path | str, *, name: str | None = None) -> Examples:
    """Read a ``text,category`` CSV (the BANKING77 format) from a path, or from CSV text.

    Raises ``DataError`` naming the column and line of the first problem: a missing column, an
    empty text or category, or a file without data rows.
    """
    if isinstance(source, Path):
        name = name or source.name
        try:
            content = source.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{name}: cannot read the file ({exc})") from exc
    else:
        content = source
        name = name or "data"
    reader = csv.DictReader(io.StringIO(content, newline=""))
    columns = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DataError(
            f"{name}: missing column {', '.join(repr(c) for c in missing)}; "
            f"expected the columns text,category, found {columns}"
        )
    texts: list[str] = []
    labels: list[str] = []
    lines: list[int] = []
    for raw in reader:
        line = reader.line_num
        if None in raw:
            raise DataError(f"{name} line {line}: more values than the {len(columns)} columns")
        values = {}
        for column in REQUIRED_COLUMNS:
            value = (raw.get(column) or "").strip()
            if not value:
                raise DataError(f"{name} line {line}: column '{column}' is empty")
            values[column] = value
        texts.append(values["text"])
        labels.append(values["category"])
        lines.append(line)
    if not texts:
        raise DataError(f"{name}: no data rows after the header")
    return Examples(texts, labels, lines)


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    holdout: np.ndarray
    sha256: str  # of the data and of which rows are held out: equal hashes mean the same hold-out


def split_examples(
    examples: Examples, *, seed: int = SPLIT_SEED, holdout_share: float = HOLDOUT_SHARE
) -> Split:
    """Stratified, deterministic split: for each intent (in name order) a seeded shuffle of its rows
    puts ``round(n × holdout_share)`` of them in the hold-out. Indexes are returned sorted.

    Written out rather than taken from scikit-learn so the hold-out cannot move with a library upgrade.
    """
    if not 0 < holdout_share < 1:
        raise ValueError("holdout_share: must be between 0 and 1")
    rng = np.random.default_rng(seed)
    labels = np.asarray(examples.labels)
    holdout: list[np.ndarray] = []
    for label in sorted(set(examples.labels)):
        rows = np.flatnonzero(labels == label)
        holdout.append(rng.permutation(rows)[: round(len(rows) * holdout_share)])
    held = np.sort(np.concatenate(holdout)) if holdout else np.array([], dtype=np.int64)
    mask = np.zeros(len(labels), dtype=bool)
    mask[held] = True
    digest = hashlib.sha256(examples.sha256.encode())
    digest.update(np.flatnonzero(mask).astype(np.int64).tobytes())
    return Split(train=np.flatnonzero(~mask), holdout=np.flatnonzero(mask), sha256=digest.hexdigest())


def first_per_label(labels: Sequence[str], limit: int) -> list[int]:
    """Indexes of at most ``limit`` examples of each label, in order (a small training subset)."""
    seen: dict[str, int] = {}
    chosen = []
    for i, label in enumerate(labels):
        if seen.get(label, 0) < limit:
            seen[label] = seen.get(label, 0) + 1
            chosen.append(i)
    return chosen


# --- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    intent: str
    confidence: float


@dataclass(frozen=True)
class Explanation:
    """Why the model scored ``intent`` as it did for one text.

    ``intercept + sum(features.values()) == decision value`` of ``intent`` exactly, and
    ``words`` redistributes the same total over the words of the text.
    """

    intent: str
    confidence: float
    decision: float
    intercept: float
    features: dict[str, float]
    words: list[tuple[str, float]]

    def top_words(self, n: int = 5) -> list[tuple[str, float]]:
        """The words that pushed hardest towards the intent (positive contributions, largest first)."""
        return [(w, v) for w, v in self.words if v > 0][:n]


_CURRENCY = re.compile(r"[£$€]")
_NUMBER = re.compile(r"\d+([.,]\d+)?")
_CONTRACTIONS = (("n't", " not"), ("'m", " am"), ("'s", " s"), ("'ve", " have"), ("'re", " are"),
                 ("'ll", " will"), ("'d", " would"))  # fmt: skip
_PUNCTUATION = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The text as the model reads it: lower case, ``currencysign`` for £ $ €, ``0`` for every number,
    contractions spelt out, no other punctuation, single spaces.

    Amounts, dates and card digits differ in every ticket and say nothing about the intent; that
    there *is* an amount or a currency does.
    """
    text = _CURRENCY.sub(" currencysign ", text.lower())
    text = _NUMBER.sub(" 0 ", text)
    for short, long in _CONTRACTIONS:
        text = text.replace(short, long)
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip()


def _vectorizer(params: Mapping[str, Any]) -> FeatureUnion:
    # A preprocessor replaces scikit-learn's lower-casing; ``normalise`` lower-cases itself.
    preprocessor = normalise if params.get("normalise") else None
    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    ngram_range=tuple(params["word_ngrams"]), sublinear_tf=True, preprocessor=preprocessor
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=tuple(params["char_ngrams"]),
                    min_df=int(params["char_min_df"]),
                    sublinear_tf=True,
                    preprocessor=preprocessor,
                ),
            ),
        ]
    )


class IntentModel:
    """A fitted vectorizer, linear classifier and temperature; predicts intents with a confidence.

    ``coef`` weighs the TF-IDF features; ``coef_embedding`` (None for a TF-IDF-only model) the
    sentence vector, with ``embedding_weight`` already folded in.
    """

    format = ARTIFACT_FORMAT

    def __init__(
        self, vectorizer: FeatureUnion, coef: np.ndarray, intercept: np.ndarray, classes: Sequence[str],
        temperature: float, params: Mapping[str, Any], coef_embedding: np.ndarray | None = None,
    ) -> None:  # fmt: skip
        if temperature <= 0:
            raise ValueError(f"temperature: must be positive, got {temperature}")
        self.vectorizer = vectorizer
        # float32 halves the artifact (77 intents × ~70,000 n-grams) at no measurable cost in accuracy.
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)
        self.coef_embedding = None if coef_embedding is None else np.asarray(coef_embedding, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.classes = list(classes)
        self.temperature = float(temperature)
        self.params = dict(params)
        self._feature_names: np.ndarray | None = None

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """The linear decision values, one row per text and one column per intent."""
        matrix = self.vectorizer.transform(list(texts))
        values = np.asarray(matrix @ self.coef.T, dtype=np.float64) + self.intercept
        if self.coef_embedding is not None:
            values += sentence_encoder.shared_encoder().vectors(list(texts)) @ self.coef_embedding.T
        return values

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.decision(texts) / self.temperature, axis=1)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        proba = self.probabilities(texts)
        best = proba.argmax(axis=1)
        return [Prediction(self.classes[k], float(proba[i, k])) for i, k in enumerate(best)]

    def explain(self, text: str, *, intent: str | None = None) -> Explanation:
        """Exact per-feature and per-word contributions to one intent's decision value for one text.

        For a linear model ``f_c(x) = b_c + Σ_j w_cj · x_j`` the contribution of feature j is
        ``w_cj · x_j``. This is the SHAP value of feature j when the baseline is the empty text
        (x = 0, where every TF-IDF value is zero) and features are taken as independent: the
        exact Shapley attribution of a linear function. It explains the decision value; the
        confidence is a monotone (softmax) function of all the intents' decision values.

        Word n-grams split their contribution equally over their words; a character n-gram's
        contribution goes to the words it occurs in, in proportion to its occurrences, so the
        words' contributions add up to the same total. The words are those of the normalised text
        (``normalise``: lower case, ``0`` for a number, ``currencysign`` for £ $ €), which is what
        the model reads. ``intent`` defaults to the predicted one.
        """
        matrix = self.vectorizer.transform([text]).tocsr()
        decision = np.asarray(matrix @ self.coef.T, dtype=np.float64).ravel() + self.intercept
        encoded = None
        if self.coef_embedding is not None:
            encoded = sentence_encoder.shared_encoder().encode([text])
            decision += encoded.vectors[0] @ self.coef_embedding.T
        proba = softmax(decision / self.temperature)
        k = int(decision.argmax()) if intent is None else self.classes.index(intent)
        names = self._names()
        features: dict[str, float] = {}
        for j, value in zip(matrix.indices, matrix.data, strict=True):
            features[str(names[j])] = float(self.coef[k, j]) * float(value)
        normalised = bool(self.params.get("normalise"))
        words = _words(normalise(text) if normalised else text, features)
        if encoded is not None and self.coef_embedding is not None:
            tokens = encoded.shares[0].astype(np.float64) @ self.coef_embedding[k]
            features[EMBEDDING_FEATURE] = float(tokens.sum())
            words = _merge(words, _embedding_words(text, encoded.spans[0], tokens, normalised=normalised))
        return Explanation(
            intent=self.classes[k],
            confidence=float(proba[k]),
            decision=float(decision[k]),
            intercept=float(self.intercept[k]),
            features=features,
            words=words,
        )

    def _names(self) -> np.ndarray:
        if self._feature_names is None:
            self._feature_names = self.vectorizer.get_feature_names_out()
        return self._feature_names

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_feature_names"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("coef_embedding", None)  # version 1 artifacts
        self.__dict__.update(state)


_WORD = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern
# The sentence vector's total contribution, in ``Explanation.features``.
EMBEDDING_FEATURE = "embedding__sentence"


def _occurrences(haystack: str, needle: str) -> int:
    return sum(1 for i in range(len(haystack) - len(needle) + 1) if haystack.startswith(needle, i))


def _words(text: str, features: Mapping[str, float]) -> list[tuple[str, float]]:
    """Share out feature contributions over the words of ``text``; sorted by contribution, largest first."""
    lowered = text.lower()
    spans = lowered.split()  # the character analyzer's words, before padding
    totals: dict[str, float] = {}

    def key(word: str) -> str:
        core = re.sub(r"^\W+|\W+$", "", word)
        return core or word

    for name, value in features.items():
        source, _, gram = name.partition("__")
        if source == "word":
            tokens = gram.split(" ")
            for token in tokens:
                totals[token] = totals.get(token, 0.0) + value / len(tokens)
        else:
            counts = [(span, _occurrences(f" {span} ", gram)) for span in spans]
            total = sum(c for _, c in counts)
            if total == 0:  # cannot happen for an n-gram of this text; keep the sum exact anyway
                totals[gram] = totals.get(gram, 0.0) + value
                continue
            for span, count in counts:
                if count:
                    totals[key(span)] = totals.get(key(span), 0.0) + value * count / total
    return sorted(totals.items(), key=lambda item: -item[1])


def _embedding_words(
    text: str, spans: Sequence[tuple[int, int]], tokens: np.ndarray, *, normalised: bool
) -> dict[str, float]:
    """Share the sentence vector's per-token contributions out over the words ``_words`` uses.

    A token belongs to the whitespace-separated word of the raw text its characters are in; that
    word's contribution is split equally over its normalised words ("£5" → "currencysign", "0").
    [CLS], [SEP] and tokens of words that normalise to nothing (a lone "?") belong to no word: their
    contribution is split equally over all the words, so the total is kept exactly.
    """
    raw_words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", text)]
    mapped: dict[int, list[str]] = {}
    for index, (_, _, word) in enumerate(raw_words):
        if normalised:
            mapped[index] = normalise(word).split()
        else:
            core = re.sub(r"^\W+|\W+$", "", word.lower())
            mapped[index] = [core or word.lower()]
    totals: dict[str, float] = {}
    loose = 0.0
    for (start, end), value in zip(spans, tokens, strict=True):
        owner = next((i for i, (a, b, _) in enumerate(raw_words) if start < end and a <= start < b), None)
        names = mapped.get(owner, []) if owner is not None else []
        if not names:
            loose += float(value)
            continue
        for name in names:
            totals[name] = totals.get(name, 0.0) + float(value) / len(names)
    everyone = [name for names in mapped.values() for name in names]
    if everyone:
        for name in everyone:
            totals[name] = totals.get(name, 0.0) + loose / len(everyone)
    elif loose:
        totals["(text)"] = loose
    return totals


def _merge(words: list[tuple[str, float]], extra: Mapping[str, float]) -> list[tuple[str, float]]:
    totals = dict(words)
    for word, value in extra.items():
        totals[word] = totals.get(word, 0.0) + value
    return sorted(totals.items(), key=lambda item: -item[1])


# --- training ------------------------------------------------------------------------------------


@dataclass
class Trained:
    """A fitted model with what training learned about it from the training split alone."""

    model: IntentModel
    threshold: float  # the default confidence threshold (all intents)
    oof_accuracy: float
    oof_coverage: float  # at ``threshold``, on the training split's out-of-fold predictions
    oof_precision: float


def fit_temperature(decision: np.ndarray, targets: np.ndarray) -> float:
    """The temperature minimising the log loss of ``softmax(decision / T)``."""

    def loss(log_t: float) -> float:
        scaled = log_softmax(decision / np.exp(log_t), axis=1)
        return float(-scaled[np.arange(len(targets)), targets].mean())

    result = minimize_scalar(loss, bounds=(-7.0, 4.0), method="bounded")
    return float(np.exp(result.x))


def threshold_for_precision(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest threshold at which the predictions with confidence ≥ it are at least ``target``
    precise (answering as many as possible); 1.0 if no threshold reaches it."""
    order = np.argsort(-confidence, kind="stable")
    precision = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    # Ties: a threshold answers every prediction with that confidence, so only cut between values.
    sorted_conf = confidence[order]
    ends = np.r_[sorted_conf[1:] != sorted_conf[:-1], True]
    ok = np.flatnonzero((precision >= target) & ends)
    return float(sorted_conf[ok.max()]) if len(ok) else 1.0


def fit_intent_model(
    texts: Sequence[str], labels: Sequence[str], *, params: Mapping[str, Any] | None = None, seed: int = 0
) -> Trained:
    """Fit the vectorizer, one classifier per fold, and from their out-of-fold decision values the
    temperature and the default threshold.

    The shipped classifier is the fold classifiers' average (of linear models: one linear model
    whose decision values are the folds' mean). A classifier refitted on all the examples would be
    more confident than the fold models that set the threshold, so the threshold would answer more,
    and less precisely, than the out-of-fold figures promise; nested cross-validation showed that
    gap (docs/benchmarks.md). The average is calibrated like its parts.
    """
    params = {**DEFAULT_PARAMS, **(params or {})}
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DataError("training: needs at least two intents")
    targets = np.searchsorted(classes, labels)
    vectorizer = _vectorizer(params)
    # Fitting the vocabulary and IDF on all training texts is unsupervised (no labels), so the
    # out-of-fold decision values stay honest about the classifier.
    matrix = vectorizer.fit_transform(list(texts)).tocsr()
    lexical = matrix.shape[1]
    weight = float(params.get("embedding_weight") or 0.0)
    if weight:
        # The encoder is pretrained and frozen: its vectors use no labels either. It reads the raw
        # text, as it was trained to (encoding the normalised text instead did as well out of fold,
        # but it is not the recipe nested cross-validation checked; docs/benchmarks.md).
        vectors = sentence_encoder.shared_encoder().vectors(list(texts))
        matrix = sparse.hstack([matrix, sparse.csr_matrix(vectors * weight)]).tocsr()
        params["encoder"] = sentence_encoder.ENCODER_NAME
        params["encoder_sha256"] = sentence_encoder.ENCODER_SHA256
    folds = StratifiedKFold(int(params["folds"]), shuffle=True, random_state=seed)
    oof = np.zeros((len(targets), len(classes)))
    coef_sum = np.zeros((len(classes), matrix.shape[1]))
    intercept_sum = np.zeros(len(classes))
    seen = np.zeros(len(classes))
    for fit_rows, predict_rows in folds.split(matrix, targets):
        fold_model = LinearSVC(C=float(params["C"]), random_state=seed).fit(
            matrix[fit_rows], targets[fit_rows]
        )
        oof[predict_rows] = _decision_all(fold_model, matrix[predict_rows], len(classes))
        fold_coef, fold_intercept = _full_coefficients(fold_model, len(fold_model.classes_))
        coef_sum[fold_model.classes_] += fold_coef
        intercept_sum[fold_model.classes_] += fold_intercept
        seen[fold_model.classes_] += 1
    if not seen.all():
        raise DataError(f"training: intent {classes[int(np.argmin(seen))]!r} needs more examples")
    temperature = fit_temperature(oof, targets)
    proba = softmax(oof / temperature, axis=1)
    correct = proba.argmax(axis=1) == targets
    confidence = proba.max(axis=1)
    threshold = threshold_for_precision(confidence, correct, float(params["target_precision"]))
    # Rounded up (never answering more than the out-of-fold figures allow) to three decimals, so the
    # default seeded into support.IntentPolicy can be exactly this value.
    threshold = min(math.ceil(round(threshold * 1000, 6)) / 1000, 1.0)
    coef, intercept = coef_sum / seen[:, None], intercept_sum / seen
    coef_embedding = coef[:, lexical:] * weight if weight else None
    answered = confidence >= threshold
    return Trained(
        model=IntentModel(
            vectorizer, coef[:, :lexical], intercept, classes, temperature, params, coef_embedding
        ),
        threshold=threshold,
        oof_accuracy=float(correct.mean()),
        oof_coverage=float(answered.mean()),
        oof_precision=float(correct[answered].mean()) if answered.any() else 1.0,
    )


def _full_coefficients(model: LinearSVC, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients as (n_classes, n_features), also when a fold saw only two classes."""
    if n_classes == 2:  # scikit-learn keeps a single row for two classes: f = +row for class 1
        return np.vstack([-model.coef_[0], model.coef_[0]]), np.r_[-model.intercept_, model.intercept_]
    return model.coef_, model.intercept_


def _decision_all(model: LinearSVC, matrix: Any, n_classes: int) -> np.ndarray:
    """Decision values for all ``n_classes`` columns, also when a fold lacked some classes."""
    coef, intercept = (
        _full_coefficients(model, 2) if len(model.classes_) == 2 else (model.coef_, model.intercept_)
    )
    values = np.full((matrix.shape[0], n_classes), -1e3)
    values[:, model.classes_] = np.asarray(matrix @ coef.T) + intercept
    return values


# --- artifacts -----------------------------------------------------------------------------------


def dump_model(model: IntentModel) -> tuple[bytes, str]:
    """Serialise a model; returns the bytes and their sha256 (store both)."""
    payload = pickle.dumps((ARTIFACT_FORMAT, model), protocol=pickle.HIGHEST_PROTOCOL)
    return payload, hashlib.sha256(payload).hexdigest()


def load_model(payload: bytes, sha256: str) -> IntentModel:
    """Load an artifact written by ``dump_model``.

    Unpickling runs code, so only bytes whose hash matches the one recorded when we wrote them
    (in the model registry) are ever unpickled; anything else is refused before loading.
    """
    if not sha256 or hashlib.sha256(payload).hexdigest() != sha256:
        raise ValueError("intent artifact: sha256 does not match the registry; refusing to load it")
    loaded = pickle.loads(payload)  # noqa: S301 - our own artifact, verified against the registry hash above
    if not (isinstance(loaded, tuple) and len(loaded) == 2 and loaded[0] in READABLE_FORMATS):
        raise ValueError(f"intent artifact: not an {ARTIFACT_FORMAT} artifact")
    model = loaded[1]
    if not isinstance(model, IntentModel):
        raise ValueError("intent artifact: does not hold an IntentModel")
    pinned = model.params.get("encoder_sha256")
    if model.coef_embedding is not None and pinned != sentence_encoder.ENCODER_SHA256:
        raise ValueError(
            f"intent artifact: trained with encoder weights {pinned}, installed are "
            f"{sentence_encoder.ENCODER_SHA256}; retrain the model"
        )
    return model


# --- evaluation ----------------------------------------------------------------------------------


def answered(
    predicted: Sequence[str],
    confidence: np.ndarray,
    *,
    default: float,
    thresholds: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Which predictions would be answered automatically: confidence ≥ the predicted intent's
    threshold (``thresholds``), or ``default`` for intents without one."""
    thresholds = thresholds or {}
    limits = np.array([thresholds.get(p, default) for p in predicted], dtype=float)
    return np.asarray(confidence, dtype=float) >= limits


def coverage_precision(correct: np.ndarray, answered_mask: np.ndarray) -> tuple[float, float | None]:
    """Share answered, and precision among the answered (None when nothing is answered)."""
    n = len(correct)
    count = int(answered_mask.sum())
    return (count / n if n else 0.0), (float(correct[answered_mask].mean()) if count else None)


def coverage_curve(
    correct: np.ndarray, confidence: np.ndarray, thresholds: Sequence[float] = CURVE_THRESHOLDS
) -> list[dict[str, Any]]:
    """For each threshold: the share answered at confidence ≥ threshold and the precision among them."""
    correct = np.asarray(correct, dtype=bool)
    confidence = np.asarray(confidence, dtype=float)
    curve = []
    for threshold in thresholds:
        coverage, precision = coverage_precision(correct, confidence >= threshold)
        curve.append(
            {
                "threshold": threshold,
                "coverage": round(coverage, 6),
                "precision": None if precision is None else round(precision, 6),
            }
        )
    return curve


def evaluate(
    labels: Sequence[str], predictions: Sequence[Prediction], *, default: float,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Accuracy, macro-F1, per-intent F1, the coverage/precision curve, and coverage and precision
    at the given thresholds."""
    predicted = [p.intent for p in predictions]
    confidence = np.array([p.confidence for p in predictions], dtype=float)
    correct = np.array([p == y for p, y in zip(predicted, labels, strict=True)], dtype=bool)
    intents = sorted(set(labels) | set(predicted))
    per_intent = f1_score(labels, predicted, labels=intents, average=None, zero_division=0)
    coverage, precision = coverage_precision(
        correct, answered(predicted, confidence, default=default, thresholds=thresholds)
    )
    return {
        "n": len(labels),
        "accuracy": float(correct.mean()) if len(correct) else 0.0,
        "macro_f1": float(f1_score(labels, predicted, labels=intents, average="macro", zero_division=0)),
        "per_intent_f1": {intent: round(float(v), 6) for intent, v in zip(intents, per_intent, strict=True)},
        "default_threshold": default,
        "coverage": coverage,
        "precision": precision,
        "curve": coverage_curve(correct, confidence),
    }


def what_if(
    labels: Sequence[str], predicted: Sequence[str], confidence: Sequence[float], *, intent: str,
    threshold: float, default: float, thresholds: Mapping[str, float] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Coverage and precision had ``intent`` used ``threshold``: for that intent's predictions,
    and overall (the other intents keep ``thresholds`` / ``default``)."""
    conf = np.asarray(confidence, dtype=float)
    correct = np.array([p == y for p, y in zip(predicted, labels, strict=True)], dtype=bool)
    mine = np.array([p == intent for p in predicted], dtype=bool)
    changed = {**(thresholds or {}), intent: threshold}
    overall_coverage, overall_precision = coverage_precision(
        correct, answered(predicted, conf, default=default, thresholds=changed)
    )
    count = int(mine.sum())
    intent_answered = mine & (conf >= threshold)
    return {
        "intent": intent,
        "threshold": threshold,
        "predicted": count,
        "labelled": sum(1 for y in labels if y == intent),
        "answered": int(intent_answered.sum()),
        "coverage": (int(intent_answered.sum()) / count) if count else None,
        "precision": float(correct[intent_answered].mean()) if intent_answered.any() else None,
        "overall_coverage": overall_coverage,
        "overall_precision": overall_precision,
    }
