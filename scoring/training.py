"""Training a lead model from leads with known outcomes, and registering it as a candidate."""

from __future__ import annotations

import hashlib
import platform
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn
import xgboost as xgb

from scoring import drift
from scoring.baseline import logistic_baseline_auc
from scoring.calibration import fit_platt
from scoring.choices import ModelKind
from scoring.features import build_matrix, fit_vocabulary, parse_spec, raw_value
from scoring.metrics import evaluate, single_feature_auc
from scoring.models import FeatureSet, ModelVersion
from scoring.predictor import NTHREAD, Predictor
from scoring.selectors import lead_rows, scoring_policy, training_leads
from scoring.services import model_version_register

# Shallow trees: exact SHAP costs grow with depth squared times leaves, and every score is explained.
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "max_depth": 3,
    "eta": 0.05,
    "num_boost_round": 400,
    "early_stopping_rounds": 40,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5,
    "reg_lambda": 1.0,
    "max_cat_to_onehot": 1,
    "max_bin": 128,
}
MIN_TRAINING_ROWS = 200


class TrainingError(ValueError):
    """Training cannot proceed; the message says why."""


@dataclass(frozen=True)
class Split:
    fit: np.ndarray
    calibration: np.ndarray
    validation: np.ndarray


def split_indices(
    n: int, *, random_split: bool, seed: int, validation_share: float, calibration_share: float
) -> Split:
    """Time-ordered by default: the newest ``validation_share`` of rows is the hold-out. Rows must
    already be in time order.

    The calibration part is a seeded random ``calibration_share`` of the training period, not its
    newest slice: calibration and early stopping need data from the same period as the fit (on
    the Bank Marketing leads the newest slice of the training period is itself shifted, and a model
    stopped and calibrated there ranks worse than chance), while the hold-out stays strictly later.
    """
    rng = np.random.default_rng(seed)
    order = np.arange(n)
    if random_split:
        rng.shuffle(order)
    n_validation = round(n * validation_share)
    n_train = n - n_validation
    n_calibration = round(n_train * calibration_share)
    train = order[:n_train].copy()
    rng.shuffle(train)
    return Split(
        fit=np.sort(train[: n_train - n_calibration]),
        calibration=np.sort(train[n_train - n_calibration :]),
        validation=np.sort(order[n_train:]),
    )


def _report(progress: Callable[[str], None] | None, message: str) -> None:
    if progress:
        progress(message)


def train_lead_model(
    *,
    feature_set: FeatureSet,
    actor: str,
    random_split: bool = False,
    seed: int = 0,
    validation_share: float = 0.2,
    calibration_share: float = 0.15,
    hyperparameters: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ModelVersion:
    """Train, calibrate, evaluate and register a candidate; run the validation gate on it.

    The candidate is stored whatever the gate says (its report explains the verdict); only
    promotion requires the gate to pass.
    """
    features = parse_spec(feature_set.features)
    params = {**DEFAULT_HYPERPARAMETERS, **feature_set.hyperparameters, **(hyperparameters or {})}
    _report(progress, "loading leads")
    rows = lead_rows(training_leads(feature_set), features, as_of=None, at_outcome=True)
    if len(rows.ids) < MIN_TRAINING_ROWS:
        raise TrainingError(
            f"training: needs at least {MIN_TRAINING_ROWS} leads with a known outcome, found {len(rows.ids)}"
        )
    labels = np.array([o == "converted" for o in rows.outcomes], dtype=np.int8)
    split = split_indices(
        len(labels), random_split=random_split, seed=seed, validation_share=validation_share,
        calibration_share=calibration_share,
    )  # fmt: skip
    fit_records = [rows.records[i] for i in split.fit]
    vocabulary = fit_vocabulary(features, fit_records)
    _report(progress, f"building the matrix for {len(rows.ids)} leads")
    matrix = build_matrix(features, rows.records, vocabulary)
    for name, part in (
        ("training", split.fit),
        ("calibration", split.calibration),
        ("hold-out", split.validation),
    ):
        if len(set(labels[part].tolist())) < 2:
            raise TrainingError(
                f"training: the {name} part has a single class; more labelled leads are needed"
            )

    _report(progress, "training XGBoost")
    feature_names = [f.name for f in features]
    feature_types = [f.xgb_type for f in features]

    def dmatrix(index: np.ndarray) -> xgb.DMatrix:
        return xgb.DMatrix(
            matrix[index], label=labels[index], feature_names=feature_names, feature_types=feature_types,
            enable_categorical=True, nthread=NTHREAD,
        )  # fmt: skip

    train_params = {k: v for k, v in params.items() if k not in ("num_boost_round", "early_stopping_rounds")}
    train_params.update(
        {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "seed": seed,
            "nthread": NTHREAD,
        }
    )
    calibration_matrix = dmatrix(split.calibration)
    booster = xgb.train(
        train_params,
        dmatrix(split.fit),
        num_boost_round=int(params["num_boost_round"]),
        evals=[(calibration_matrix, "calibration")],
        early_stopping_rounds=int(params["early_stopping_rounds"]),
        verbose_eval=False,
    )
    # Keep exactly the trees up to the best iteration, so saved and in-memory models agree.
    best_iteration = int(booster.best_iteration)
    booster = booster[: best_iteration + 1]

    _report(progress, "calibrating and evaluating")
    platt = fit_platt(booster.predict(calibration_matrix, output_margin=True), labels[split.calibration])
    predictor = Predictor(features, vocabulary, booster, platt)
    policy = scoring_policy()
    scored = predictor.score(matrix)
    validation_metrics = evaluate(
        labels[split.validation], scored.probability[split.validation], thresholds=policy.tier_thresholds
    )
    train_index = np.concatenate([split.fit, split.calibration])
    baseline_auc = logistic_baseline_auc(
        matrix[train_index], labels[train_index], matrix[split.validation], labels[split.validation],
        [f.type == "categorical" for f in features],
    )  # fmt: skip
    leakage = [
        {
            "feature": f.name,
            "auc": single_feature_auc(
                _leakage_score(matrix[split.fit, column], labels[split.fit], f.type), labels[split.fit]
            ),
            "known_after_outcome": f.known_after_outcome,
        }
        for column, f in enumerate(features)
    ]
    reference = _reference(
        features, [rows.records[i] for i in train_index], matrix[train_index], scored.score[train_index]
    )
    artifact = bytes(booster.save_raw(raw_format="ubj"))
    times = [rows.times[i] for i in train_index]
    data_hash = hashlib.sha256()
    data_hash.update(np.array(rows.ids, dtype=np.int64).tobytes())
    data_hash.update(labels.tobytes())
    data_hash.update(np.ascontiguousarray(matrix).tobytes())
    metrics = {
        "validation": validation_metrics,
        "baseline_logistic_auc": baseline_auc,
        "train_positive_rate": float(labels[train_index].mean()),
        "validation_positive_rate": float(labels[split.validation].mean()),
        "split": "random" if random_split else "time-ordered",
        "sizes": {
            "fit": len(split.fit),
            "calibration": len(split.calibration),
            "validation": len(split.validation),
        },
        "best_iteration": best_iteration,
        "leakage": leakage,
    }
    _report(progress, "registering and running the validation gate")
    return model_version_register(
        actor=actor,
        input_context={
            "feature_set": feature_set.name,
            "rows": len(rows.ids),
            "data_hash": data_hash.hexdigest(),
        },
        prediction={"validation_auc": validation_metrics.get("roc_auc"), "baseline_auc": baseline_auc},
        kind=ModelKind.LEAD_SCORE,
        name=feature_set.name,
        feature_set=feature_set,
        artifact=artifact,
        artifact_sha256=hashlib.sha256(artifact).hexdigest(),
        training_data_hash=data_hash.hexdigest(),
        training_data_from=min((t for t in times if t), default=None),
        training_data_to=max((t for t in times if t), default=None),
        training_rows=len(train_index),
        feature_spec=feature_set.features,
        hyperparameters=params,
        metrics=metrics,
        preprocessing={"vocabulary": vocabulary, "platt": platt.as_dict()},
        reference=reference,
        validation_lead_ids=[rows.ids[i] for i in split.validation],
        library_versions=library_versions(),
    )


def _leakage_score(column: np.ndarray, labels: np.ndarray, feature_type: str) -> np.ndarray:
    """What one feature alone says about the label: its value, or for a category its positive rate
    (category codes have no order, so ranking by code would hide a category that gives the label away)."""
    if feature_type != "categorical":
        return column
    score = np.full(len(column), float(labels.mean()))
    for code in np.unique(column[~np.isnan(column)]):
        mask = column == code
        score[mask] = labels[mask].mean()
    score[np.isnan(column)] = labels[np.isnan(column)].mean() if np.isnan(column).any() else 0.0
    return score


def _reference(features: list, records: list, matrix: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Training distributions of every feature and of the score, for drift checks."""
    sample = random.Random(0)  # noqa: S311 - sampling for statistics, not security
    index = list(range(len(records)))
    if len(index) > 20_000:
        index = sorted(sample.sample(index, 20_000))
    reference: dict[str, Any] = {"features": {}, "score": drift.score_reference(scores.tolist())}
    for column, feature in enumerate(features):
        if feature.type == "categorical":
            values = [raw_value(feature, records[i]) for i in index]
            reference["features"][feature.name] = drift.categorical_reference(
                [None if v is None else str(v) for v in values]
            )
        else:
            reference["features"][feature.name] = drift.numeric_reference(matrix[index, column].astype(float))
    return reference


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "xgboost": xgb.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }
