"""The reference a lead model must beat: a standardized logistic regression (pure: sklearn)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def logistic_baseline_auc(
    train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray, categorical: Sequence[bool]
) -> float | None:
    """ROC AUC on ``test`` of a logistic regression on standardized numerics and one-hot categoricals."""
    if len(set(y_train.tolist())) < 2 or len(set(y_test.tolist())) < 2:
        return None
    numeric_columns = [i for i, c in enumerate(categorical) if not c]
    categorical_columns = [i for i, c in enumerate(categorical) if c]
    transformers = []
    if numeric_columns:
        transformers.append(
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric_columns)
        )
    if categorical_columns:
        transformers.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=-1.0),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical_columns,
            )
        )
    model = make_pipeline(ColumnTransformer(transformers), LogisticRegression(max_iter=2000))
    model.fit(train, y_train)
    return float(roc_auc_score(y_test, model.predict_proba(test)[:, 1]))
