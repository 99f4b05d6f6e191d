"""A trained lead model ready to score and explain: booster + vocabulary + calibration.

No ORM: built from a ModelVersion's stored fields by ``Predictor.from_version`` (cached per
artifact checksum), or directly by training.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from scoring.calibration import Platt, score_points
from scoring.explain import points_from_contributions, top_reasons_json
from scoring.features import FeatureDef, parse_spec

NTHREAD = int(os.environ.get("XGB_NTHREAD", "2"))


@dataclass
class Scored:
    margin: np.ndarray
    probability: np.ndarray
    score: np.ndarray  # integer 0–100


class Predictor:
    def __init__(
        self,
        features: Sequence[FeatureDef],
        vocabulary: Mapping[str, Sequence[str]],
        booster: xgb.Booster,
        platt: Platt,
    ) -> None:
        self.features = list(features)
        self.vocabulary = {k: list(v) for k, v in vocabulary.items()}
        self.booster = booster
        self.platt = platt
        self.booster.set_param({"nthread": NTHREAD})

    @classmethod
    def from_stored(cls, feature_spec: Any, preprocessing: Mapping[str, Any], artifact: bytes) -> Predictor:
        booster = xgb.Booster()
        booster.load_model(bytearray(artifact))
        return cls(
            parse_spec(feature_spec),
            preprocessing.get("vocabulary", {}),
            booster,
            Platt.from_dict(preprocessing["platt"]),
        )

    def dmatrix(self, matrix: np.ndarray) -> xgb.DMatrix:
        return xgb.DMatrix(
            matrix,
            feature_names=[f.name for f in self.features],
            feature_types=[f.xgb_type for f in self.features],
            enable_categorical=True,
            nthread=NTHREAD,
        )

    def score(self, matrix: np.ndarray, dmatrix: xgb.DMatrix | None = None) -> Scored:
        margin = self.booster.predict(dmatrix or self.dmatrix(matrix), output_margin=True).astype(np.float64)
        probability = self.platt.probability(margin)
        return Scored(margin, probability, score_points(probability))

    def contributions(self, matrix: np.ndarray, dmatrix: xgb.DMatrix | None = None) -> np.ndarray:
        """Exact tree SHAP values in margin space: features × leads, plus the bias as the last column."""
        return self.booster.predict(dmatrix or self.dmatrix(matrix), pred_contribs=True)

    def score_and_explain(
        self, matrix: np.ndarray, dmatrix: xgb.DMatrix | None = None, *, top: int = 5
    ) -> tuple[Scored, list[str]]:
        """Scores and the ``top`` reasons per lead (as JSON arrays, see ``top_reasons_json``)."""
        dmatrix = dmatrix or self.dmatrix(matrix)
        scored = self.score(matrix, dmatrix)
        contributions = self.contributions(matrix, dmatrix).astype(np.float64)
        bias = contributions[:, -1]
        base_score = 100.0 * self.platt.probability(bias)
        probability = scored.probability
        slope = 100.0 * self.platt.a * probability * (1.0 - probability)
        points = points_from_contributions(contributions[:, :-1], 100.0 * probability, base_score, slope)
        return scored, top_reasons_json(points, matrix, self.features, self.vocabulary, top=top)

    def base_score(self) -> float:
        """Score of an average lead (the model's expected margin, calibrated)."""
        empty = np.full((1, len(self.features)), np.nan, dtype=np.float32)
        bias = float(self.contributions(empty)[0, -1])
        return float(100.0 * self.platt.probability(np.array([bias]))[0])


_CACHE: dict[str, Predictor] = {}
_CACHE_SIZE = 8


def predictor_for(feature_spec: Any, preprocessing: Mapping[str, Any], artifact: bytes) -> Predictor:
    """A predictor for stored model fields, loaded once per process per artifact checksum."""
    checksum = hashlib.sha256(artifact).hexdigest()
    predictor = _CACHE.get(checksum)
    if predictor is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        predictor = _CACHE[checksum] = Predictor.from_stored(feature_spec, preprocessing, artifact)
    return predictor


def row_hashes(matrix: np.ndarray, salt: str) -> list[str]:
    """A short hash per matrix row (and model/threshold salt): equal hash, equal features."""
    prefix = salt.encode()
    contiguous = np.ascontiguousarray(matrix)
    return [hashlib.blake2b(prefix + row.tobytes(), digest_size=16).hexdigest() for row in contiguous]
