"""Training, registering, validating and evaluating the support intent model (ModelVersion kind ``intent``).

The model itself is in ``scoring.intent`` (pure), its validation gate and loading in
``scoring.intent_models``. Registration, the validation gate, promotion and rollback go through the
same registry and services as the lead model (``scoring.services``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings

from scoring.choices import ModelKind
from scoring.intent import (
    DEFAULT_PARAMS,
    SPLIT_SEED,
    DataError,
    Examples,
    dump_model,
    evaluate,
    first_per_label,
    fit_intent_model,
    read_examples,
    split_examples,
)
from scoring.intent_examples import intent_training_examples
from scoring.intent_models import intent_model
from scoring.models import ModelVersion
from scoring.selectors import champion
from scoring.services import model_version_register
from scoring.training import library_versions

BANKING77 = Path(settings.BASE_DIR) / "fixtures" / "banking77" / "train.csv"
MODEL_NAME = "banking77"


def intent_model_train(
    *,
    actor: str,
    data: Path = BANKING77,
    per_intent: int | None = None,
    seed: int = SPLIT_SEED,
    params: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ModelVersion:
    """Train on the training part of ``data``'s 80/20 split, evaluate on its hold-out, register a
    candidate and run the validation gate on it.

    ``per_intent`` trains on at most that many examples of each intent (fast, for tests and
    trials); the hold-out is always the whole 20%.
    """
    report = progress or (lambda message: None)
    report("reading the labelled file")
    examples = read_examples(data)
    split = split_examples(examples, seed=seed)
    train = examples.subset(split.train)
    if per_intent is not None:
        train = train.subset(first_per_label(train.labels, per_intent))
    holdout = examples.subset(split.holdout)
    train, extra = intent_training_examples(train, holdout)
    report(f"training on {len(train)} examples")
    started = time.perf_counter()
    trained = fit_intent_model(train.texts, train.labels, params=params, seed=seed)
    seconds = time.perf_counter() - started
    report(f"evaluating on {len(holdout)} held-out examples")
    predictions = trained.model.predict(holdout.texts)
    metrics = evaluate(holdout.labels, predictions, default=trained.threshold)
    metrics.update(
        {
            "training_seconds": round(seconds, 2),
            "data_file": data.name,
            "data_sha256": examples.sha256,
            "split_seed": seed,
            "split_sha256": split.sha256,
            "sizes": {"train": len(train), "holdout": len(holdout), "per_intent": per_intent, "extra": extra},
            "out_of_fold": {
                "accuracy": trained.oof_accuracy,
                "coverage": trained.oof_coverage,
                "precision": trained.oof_precision,
            },
        }
    )
    artifact, sha256 = dump_model(trained.model)
    report("registering and running the validation gate")
    return model_version_register(
        actor=actor,
        input_context={"data": data.name, "rows": len(train), "data_hash": train.sha256},
        prediction={
            "accuracy": metrics["accuracy"],
            "coverage": metrics["coverage"],
            "precision": metrics["precision"],
        },
        kind=ModelKind.INTENT,
        name=MODEL_NAME,
        artifact=artifact,
        artifact_sha256=sha256,
        training_data_hash=train.sha256,
        training_rows=len(train),
        hyperparameters={**DEFAULT_PARAMS, **(params or {})},
        metrics=metrics,
        preprocessing={
            "default_threshold": trained.threshold,
            "temperature": trained.model.temperature,
            "intents": trained.model.classes,
        },
        # The hold-out with the model's answers: the threshold what-if page reads it (no retraining),
        # and the gate scores the champion on the very same texts.
        reference={
            "holdout": {
                "texts": holdout.texts,
                "labels": holdout.labels,
                "predicted": [p.intent for p in predictions],
                "confidence": [round(p.confidence, 6) for p in predictions],
            }
        },
        library_versions=library_versions(),
    )


def intent_version_for_evaluation(version_number: int | None = None) -> ModelVersion:
    """The intent version to evaluate: a given version number, else the champion, else the newest."""
    versions = ModelVersion.objects.filter(kind=ModelKind.INTENT, name=MODEL_NAME)
    if version_number is not None:
        found = versions.filter(version=version_number).first()
    else:
        found = champion(ModelKind.INTENT) or versions.order_by("-version").first()
    if found is None:
        which = f"version {version_number}" if version_number is not None else "any version"
        raise LookupError(f"intent model: no {which} registered; run manage.py train_intent_model first")
    return found


def intent_model_evaluate(*, version: ModelVersion, data: Path | None = None) -> dict[str, Any]:
    """Accuracy, macro-F1, and coverage and precision at the version's default threshold, on a
    labelled ``text,category`` file or (without one) on the version's own hold-out.

    Raises ``DataError`` for a bad file, naming the line and column (including an intent the
    model does not know).
    """
    model = intent_model(version)
    if data is None:
        holdout = version.reference.get("holdout", {})
        examples = Examples(list(holdout.get("texts", [])), list(holdout.get("labels", [])))
        source = f"the hold-out of {version.label} ({version.metrics.get('data_file', 'training file')})"
    else:
        examples = read_examples(data)
        source = data.name
        known = set(model.classes)
        for label, line in zip(examples.labels, examples.lines, strict=True):
            if label not in known:
                raise DataError(
                    f"{data.name} line {line}: column 'category': unknown intent {label!r} "
                    f"(the model knows {len(known)} intents)"
                )
    threshold = float(version.preprocessing["default_threshold"])
    result = evaluate(examples.labels, model.predict(examples.texts), default=threshold)
    result["source"] = source
    result["version"] = version.label
    return result
