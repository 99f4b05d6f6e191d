"""Feature specs as data, and turning lead records into a model matrix (pure: numpy only).

A feature spec is a list of plain dicts, stored on a FeatureSet in the admin and snapshotted on
every ModelVersion, so any CRM field can become a feature without code:

    {"name": "age", "source": "attributes.age", "type": "numeric", "display": "Age"}
    {"name": "job", "source": "attributes.job", "type": "categorical", "display": "Job"}
    {"name": "pricing_visits_30d", "source": "events.pricing_visit", "type": "event_count",
     "window_days": 30, "display": "Pricing page visits (30 days)"}

Sources: ``lead.<field>``, ``account.<field>``, ``attributes.<key>`` (the lead's JSON), and
``events.<kind>`` for event counts in a window ending at the record's as-of time. Categorical
values are coded with the vocabulary learned at training; a category never seen in training, and
any missing value, becomes NaN, which the model routes down its learned missing branch: unknown
input is handled, never a crash.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

FEATURE_TYPES = ("numeric", "categorical", "boolean", "event_count")
MISSING_RULES = ("nan", "zero", "constant", "category")
SOURCE_KINDS = ("lead", "account", "attributes", "events")
MAX_CATEGORIES = 60
MISSING_CATEGORY = "(missing)"


class SpecError(ValueError):
    """A feature spec that cannot be used; the message names the feature and the field."""


@dataclass(frozen=True)
class FeatureDef:
    name: str
    source: str
    type: str
    display: str
    missing: str = "nan"
    fill_value: float | None = None
    window_days: int | None = None
    known_after_outcome: bool = False
    unit: str = ""

    @property
    def source_kind(self) -> str:
        return self.source.split(".", 1)[0]

    @property
    def source_key(self) -> str:
        return self.source.split(".", 1)[1]

    @property
    def xgb_type(self) -> str:
        return "c" if self.type == "categorical" else "q"


@dataclass
class Record:
    """What the features of one lead are computed from (built by a selector, or by a test)."""

    lead: Mapping[str, Any] = field(default_factory=dict)
    account: Mapping[str, Any] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: Mapping[str, Sequence[datetime]] = field(default_factory=dict)
    as_of: datetime | None = None


def parse_spec(raw: Any) -> list[FeatureDef]:
    """Validate a spec (list of dicts); raise SpecError naming the feature index, name and field."""
    if not isinstance(raw, list) or not raw:
        raise SpecError("feature spec: must be a non-empty list of features")
    features: list[FeatureDef] = []
    seen: set[str] = set()
    allowed = set(FeatureDef.__dataclass_fields__)
    for index, item in enumerate(raw):
        where = f"feature {index}"
        if not isinstance(item, Mapping):
            raise SpecError(f"{where}: must be an object")
        where = f"feature {index} ({item.get('name', '?')})"
        unknown = set(item) - allowed
        if unknown:
            raise SpecError(f"{where}: unknown field(s) {sorted(unknown)}")
        for required in ("name", "source", "type", "display"):
            if not isinstance(item.get(required), str) or not item[required].strip():
                raise SpecError(f"{where}: '{required}' is required")
        feature = FeatureDef(**item)
        if feature.name in seen:
            raise SpecError(f"{where}: name '{feature.name}' is used twice")
        seen.add(feature.name)
        if feature.type not in FEATURE_TYPES:
            raise SpecError(f"{where}: type must be one of {', '.join(FEATURE_TYPES)}")
        if "." not in feature.source or feature.source_kind not in SOURCE_KINDS:
            raise SpecError(
                f"{where}: source must be <{'|'.join(SOURCE_KINDS)}>.<name>, got '{feature.source}'"
            )
        if (feature.type == "event_count") != (feature.source_kind == "events"):
            raise SpecError(f"{where}: event_count features (and only they) read from events.<kind>")
        if feature.type == "event_count" and (
            not isinstance(feature.window_days, int)
            or isinstance(feature.window_days, bool)
            or feature.window_days <= 0
        ):
            raise SpecError(f"{where}: window_days must be a positive whole number of days for event_count")
        if feature.missing not in MISSING_RULES:
            raise SpecError(f"{where}: missing must be one of {', '.join(MISSING_RULES)}")
        if feature.missing == "constant" and (
            not isinstance(feature.fill_value, int | float) or isinstance(feature.fill_value, bool)
        ):
            raise SpecError(f"{where}: missing 'constant' needs a numeric fill_value")
        if feature.type == "categorical" and feature.missing in ("zero", "constant"):
            raise SpecError(
                f"{where}: categorical features take missing 'nan' or 'category', not '{feature.missing}'"
            )
        if feature.missing == "category" and feature.type != "categorical":
            raise SpecError(f"{where}: missing 'category' only applies to categorical features")
        features.append(feature)
    return features


def raw_value(feature: FeatureDef, record: Record) -> Any:
    """The feature's input value for one record, before coding (None when missing)."""
    kind, key = feature.source_kind, feature.source_key
    if kind == "events":
        stamps = record.events.get(key, ())
        if record.as_of is None:
            return len(stamps)
        start = record.as_of - timedelta(days=feature.window_days or 0)
        # Only events before the as-of time: a training row must never see what came after it.
        return sum(1 for t in stamps if start <= t <= record.as_of)
    source = {"lead": record.lead, "account": record.account, "attributes": record.attributes}[kind]
    value = source.get(key)
    return None if value == "" else value


def _as_float(value: Any) -> float:
    if value is None or (isinstance(value, str | bytes) and not str(value).strip()):
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan  # a text value in a numeric field counts as missing, not a crash
    return number if math.isfinite(number) else math.nan


def _as_bool(value: Any) -> float:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("yes", "true", "1", "y"):
            return 1.0
        if lowered in ("no", "false", "0", "n"):
            return 0.0
        return math.nan
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    return 1.0 if bool(value) else 0.0


def _category(feature: FeatureDef, value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_CATEGORY if feature.missing == "category" else None
    return str(value)


def fit_vocabulary(features: Sequence[FeatureDef], records: Sequence[Record]) -> dict[str, list[str]]:
    """Categories per categorical feature, most frequent first (at most MAX_CATEGORIES each)."""
    vocabulary: dict[str, list[str]] = {}
    for feature in features:
        if feature.type != "categorical":
            continue
        counts = Counter(
            c for c in (_category(feature, raw_value(feature, r)) for r in records) if c is not None
        )
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        vocabulary[feature.name] = [category for category, _ in ranked[:MAX_CATEGORIES]]
    return vocabulary


def _fill(feature: FeatureDef, number: float) -> float:
    if math.isnan(number):
        if feature.missing == "zero":
            return 0.0
        if feature.missing == "constant" and feature.fill_value is not None:
            return float(feature.fill_value)
    return number


def raw_values(
    feature: FeatureDef, records: Sequence[Record], sources: dict[str, list[Mapping[str, Any]]] | None = None
) -> list[Any]:
    """``raw_value`` for a whole column at once (the hot path of scoring 100,000 leads).

    Unlike ``raw_value``, an empty string is left as it is: the column coders treat it as missing.
    ``sources`` caches each record's lead, account and attributes mappings between columns.
    """
    kind, key = feature.source_kind, feature.source_key
    if kind == "events":
        return [raw_value(feature, r) for r in records]
    sources = {} if sources is None else sources
    if kind not in sources:
        sources[kind] = [getattr(r, kind) for r in records]
    return [source.get(key) for source in sources[kind]]


def _categorical_column(feature: FeatureDef, values: list[Any], categories: Sequence[str]) -> list[float]:
    codes: dict[Any, float] = {category: float(i) for i, category in enumerate(categories)}
    missing = codes.get(_category(feature, None) or "", math.nan)
    if {type(v) for v in values} <= {str, type(None)}:
        # Fast path: text and missing values only, coded by one dictionary lookup each.
        codes[""] = codes[None] = missing
        return [codes.get(v, math.nan) for v in values]
    return [
        (codes.get(v, math.nan) if v else missing)
        if isinstance(v, str)
        else codes.get(_category(feature, v) or "", math.nan)
        for v in values
    ]


def _numeric_column(feature: FeatureDef, values: list[Any]) -> np.ndarray:
    try:
        # Fast path: numbers and None (None becomes NaN); anything else takes the careful path.
        column = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        column = np.array([_as_float(v) for v in values], dtype=np.float64)
    column[~np.isfinite(column)] = np.nan
    if feature.missing == "zero":
        column[np.isnan(column)] = 0.0
    elif feature.missing == "constant" and feature.fill_value is not None:
        column[np.isnan(column)] = float(feature.fill_value)
    return column


def build_matrix(
    features: Sequence[FeatureDef], records: Sequence[Record], vocabulary: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """A float32 matrix, one row per record, one column per feature (categoricals as codes, NaN = missing)."""
    sources: dict[str, list[Mapping[str, Any]]] = {}
    columns = {feature.name: raw_values(feature, records, sources) for feature in features}
    return matrix_from_columns(features, columns, vocabulary, rows=len(records))


def matrix_from_columns(
    features: Sequence[FeatureDef],
    columns: Mapping[str, list[Any]],
    vocabulary: Mapping[str, Sequence[str]],
    *,
    rows: int,
) -> np.ndarray:
    """``build_matrix`` from each feature's raw values (as ``raw_values`` gives them), ``rows`` long."""
    matrix = np.full((rows, len(features)), np.nan, dtype=np.float32)
    for column, feature in enumerate(features):
        values = columns[feature.name]
        if feature.type == "categorical":
            matrix[:, column] = _categorical_column(feature, values, vocabulary.get(feature.name, ()))
        elif feature.type == "boolean":
            matrix[:, column] = [_fill(feature, _as_bool(None if v == "" else v)) for v in values]
        else:
            matrix[:, column] = _numeric_column(feature, values)
    return matrix


def decode(feature: FeatureDef, coded: float, vocabulary: Mapping[str, Sequence[str]]) -> str | float | None:
    """The value a person should see for a matrix cell (category name, number, or None if missing)."""
    if math.isnan(coded):
        return None
    if feature.type == "categorical":
        categories = vocabulary.get(feature.name, ())
        index = int(coded)
        return categories[index] if 0 <= index < len(categories) else None
    if feature.type == "boolean":
        return "yes" if coded >= 0.5 else "no"
    return float(coded)
