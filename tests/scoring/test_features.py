import math
import re
from datetime import datetime, timedelta

import numpy as np
import pytest

from scoring.features import (
    MAX_CATEGORIES,
    MISSING_CATEGORY,
    FeatureDef,
    Record,
    SpecError,
    build_matrix,
    decode,
    fit_vocabulary,
    parse_spec,
    raw_value,
)

NUM = {"name": "age", "source": "attributes.age", "type": "numeric", "display": "Age"}
CAT = {"name": "job", "source": "attributes.job", "type": "categorical", "display": "Job"}
BOOL = {"name": "has_phone", "source": "lead.has_phone", "type": "boolean", "display": "Has phone"}
EVT = {
    "name": "visits_30d",
    "source": "events.pricing_visit",
    "type": "event_count",
    "window_days": 30,
    "display": "Pricing visits",
    "missing": "zero",
    "unit": "visits",
}
ACC = {
    "name": "employees",
    "source": "account.employees",
    "type": "numeric",
    "display": "Employees",
    "missing": "constant",
    "fill_value": -1,
}

AS_OF = datetime(2024, 3, 31, 12, 0)


def _feature(**overrides):
    return parse_spec([{**NUM, **overrides}])[0]


def _without(item, key):
    return {k: v for k, v in item.items() if k != key}


# --- parse_spec -------------------------------------------------------------------------------------------


def test_it_parses_a_valid_spec_of_every_type():
    features = parse_spec([NUM, CAT, BOOL, EVT, ACC])
    assert [f.name for f in features] == ["age", "job", "has_phone", "visits_30d", "employees"]
    assert [f.type for f in features] == ["numeric", "categorical", "boolean", "event_count", "numeric"]
    assert [f.source_kind for f in features] == ["attributes", "attributes", "lead", "events", "account"]
    assert [f.source_key for f in features] == ["age", "job", "has_phone", "pricing_visit", "employees"]
    age, _, _, visits, employees = features
    assert (age.missing, age.fill_value, age.window_days, age.known_after_outcome) == (
        "nan",
        None,
        None,
        False,
    )
    assert (visits.window_days, visits.missing, visits.unit) == (30, "zero", "visits")
    assert (employees.missing, employees.fill_value) == ("constant", -1)


def test_it_accepts_missing_category_on_a_categorical_feature():
    (job,) = parse_spec([{**CAT, "missing": "category"}])
    assert job.missing == "category"


def test_it_keeps_dots_after_the_first_in_the_source_key():
    (feature,) = parse_spec([{**NUM, "source": "attributes.profile.age"}])
    assert (feature.source_kind, feature.source_key) == ("attributes", "profile.age")


def test_it_gives_the_xgboost_type_c_only_to_categoricals():
    features = parse_spec([NUM, CAT, BOOL, EVT])
    assert [f.xgb_type for f in features] == ["q", "c", "q", "q"]


@pytest.mark.parametrize("raw", [None, {}, "age", NUM, [], ()])
def test_it_rejects_a_spec_that_is_not_a_non_empty_list(raw):
    with pytest.raises(SpecError, match="must be a non-empty list"):
        parse_spec(raw)


@pytest.mark.parametrize(
    ("item", "fragments"),
    [
        ("age", ["feature 1: must be an object"]),
        (["age"], ["feature 1: must be an object"]),
        ({**CAT, "colour": "red"}, ["feature 1 (job)", "unknown field", "colour"]),
        (_without(CAT, "name"), ["feature 1 (?)", "'name' is required"]),
        (_without(CAT, "source"), ["feature 1 (job)", "'source' is required"]),
        (_without(CAT, "type"), ["feature 1 (job)", "'type' is required"]),
        (_without(CAT, "display"), ["feature 1 (job)", "'display' is required"]),
        ({**CAT, "display": "   "}, ["feature 1 (job)", "'display' is required"]),
        ({**CAT, "name": 7}, ["feature 1 (7)", "'name' is required"]),
        ({**NUM, "display": "Age again"}, ["feature 1 (age)", "name 'age' is used twice"]),
        ({**CAT, "type": "text"}, ["feature 1 (job)", "type must be one of", "numeric", "event_count"]),
        ({**CAT, "source": "contact.job"}, ["feature 1 (job)", "source must be", "'contact.job'"]),
        ({**CAT, "source": "job"}, ["feature 1 (job)", "source must be", "'job'"]),
        ({**EVT, "source": "attributes.visits"}, ["feature 1 (visits_30d)", "event_count", "events.<kind>"]),
        ({**CAT, "source": "events.visit"}, ["feature 1 (job)", "event_count", "events.<kind>"]),
        (_without(EVT, "window_days"), ["feature 1 (visits_30d)", "window_days must be a positive"]),
        ({**EVT, "window_days": 0}, ["feature 1 (visits_30d)", "window_days must be a positive"]),
        ({**EVT, "window_days": -7}, ["feature 1 (visits_30d)", "window_days must be a positive"]),
        ({**CAT, "missing": "sometimes"}, ["feature 1 (job)", "missing must be one of", "constant"]),
        ({**ACC, "fill_value": None}, ["feature 1 (employees)", "'constant' needs a numeric fill_value"]),
        (_without(ACC, "fill_value"), ["feature 1 (employees)", "'constant' needs a numeric fill_value"]),
        (
            {**BOOL, "missing": "category"},
            ["feature 1 (has_phone)", "'category' only applies to categorical"],
        ),
        (
            {**EVT, "missing": "category"},
            ["feature 1 (visits_30d)", "'category' only applies to categorical"],
        ),
    ],
)
def test_it_rejects_a_bad_feature_naming_its_index_name_and_field(item, fragments):
    with pytest.raises(SpecError) as error:
        parse_spec([NUM, item])
    for fragment in fragments:
        assert fragment in str(error.value)


def test_it_is_a_value_error_so_callers_can_catch_it_broadly():
    with pytest.raises(ValueError, match=re.escape("feature 0 (job): type must be one of")):
        parse_spec([{**CAT, "type": "text"}])


def test_it_rejects_a_window_days_that_is_not_a_number_with_a_spec_error():
    # Admin-edited JSON easily holds "30"; validation must answer with a SpecError (which
    # FeatureSet.clean turns into a form error), not a TypeError from comparing str with int.
    with pytest.raises(SpecError, match=re.escape("feature 0 (visits_30d): window_days")):
        parse_spec([{**EVT, "window_days": "30"}])


def test_it_rejects_a_fill_value_that_is_not_a_number():
    # A spec that validates must not crash build_matrix later with float("unknown").
    with pytest.raises(SpecError, match=re.escape("feature 0 (employees)")):
        parse_spec([{**ACC, "fill_value": "unknown"}])


# --- raw_value --------------------------------------------------------------------------------------------


def test_it_reads_raw_values_from_lead_account_and_attributes():
    lead_feature, account_feature, attribute_feature = parse_spec(
        [
            {**BOOL, "source": "lead.has_phone"},
            {**ACC, "source": "account.employees"},
            {**NUM, "source": "attributes.age"},
        ]
    )
    record = Record(
        lead={"has_phone": True, "age": 99},
        account={"employees": 250, "age": 98},
        attributes={"age": 56, "employees": 97},
    )
    assert raw_value(lead_feature, record) is True
    assert raw_value(account_feature, record) == 250
    assert raw_value(attribute_feature, record) == 56


def test_it_returns_none_for_an_absent_or_empty_value_but_keeps_falsy_values():
    age = _feature()
    assert raw_value(age, Record(attributes={})) is None
    assert raw_value(age, Record(attributes={"age": ""})) is None
    assert raw_value(age, Record(attributes={"age": None})) is None
    assert raw_value(age, Record(attributes={"age": 0})) == 0
    assert raw_value(age, Record(attributes={"age": False})) is False


def test_it_counts_events_only_inside_the_window_ending_at_as_of():
    (visits,) = parse_spec([EVT])
    start = AS_OF - timedelta(days=30)
    stamps = [
        start - timedelta(seconds=1),  # just before the window: out
        start,  # window start: in
        AS_OF - timedelta(days=3),  # in
        AS_OF,  # as-of itself: in
        AS_OF + timedelta(seconds=1),  # after as-of: the future, never counted
        AS_OF + timedelta(days=10),  # after as-of: out
    ]
    record = Record(events={"pricing_visit": stamps, "demo_request": [AS_OF]}, as_of=AS_OF)
    assert raw_value(visits, record) == 3


def test_it_counts_every_event_when_there_is_no_as_of():
    (visits,) = parse_spec([EVT])
    stamps = [AS_OF - timedelta(days=400), AS_OF, AS_OF + timedelta(days=400)]
    assert raw_value(visits, Record(events={"pricing_visit": stamps}, as_of=None)) == 3


def test_it_counts_zero_events_of_an_absent_kind():
    (visits,) = parse_spec([EVT])
    assert raw_value(visits, Record(events={"other": [AS_OF]}, as_of=AS_OF)) == 0
    assert raw_value(visits, Record(as_of=None)) == 0


# --- fit_vocabulary ---------------------------------------------------------------------------------------


def _records(key, values):
    return [Record(attributes={key: v}) for v in values]


def test_it_orders_the_vocabulary_by_frequency_then_name_and_drops_missing():
    age, job = parse_spec([NUM, CAT])
    values = ["technician", "admin.", "technician", None, "", "retired", "admin.", "technician", None, None]
    vocabulary = fit_vocabulary([age, job], _records("job", values))
    # technician 3, then admin. 2, then retired 1; the four missing values are not a category.
    assert vocabulary == {"job": ["technician", "admin.", "retired"]}


def test_it_breaks_frequency_ties_alphabetically():
    (job,) = parse_spec([CAT])
    vocabulary = fit_vocabulary([job], _records("job", ["c", "b", "a", "b", "c", "a", "d"]))
    assert vocabulary["job"] == ["a", "b", "c", "d"]


def test_it_includes_the_missing_category_when_missing_is_category():
    (job,) = parse_spec([{**CAT, "missing": "category"}])
    vocabulary = fit_vocabulary([job], _records("job", [None, "admin.", "", None, "admin.", "retired"]))
    # None, "", None -> three missing; admin. two; retired one.
    assert vocabulary["job"] == [MISSING_CATEGORY, "admin.", "retired"]
    assert MISSING_CATEGORY == "(missing)"


def test_it_caps_the_vocabulary_at_max_categories():
    (job,) = parse_spec([CAT])
    values = [f"c{i:02d}" for i in range(70)] + ["zz", "zz"]
    vocabulary = fit_vocabulary([job], _records("job", values))
    assert MAX_CATEGORIES == 60
    assert len(vocabulary["job"]) == 60
    # The most frequent first, despite its name; then the single ones alphabetically, up to the cap.
    assert vocabulary["job"] == ["zz"] + [f"c{i:02d}" for i in range(59)]


def test_it_stringifies_non_string_categories():
    (job,) = parse_spec([CAT])
    assert fit_vocabulary([job], _records("job", [3, 3, 1]))["job"] == ["3", "1"]


# --- build_matrix -----------------------------------------------------------------------------------------


def _column(feature_dict, key, values, vocabulary=None):
    (feature,) = parse_spec([feature_dict])
    matrix = build_matrix([feature], _records(key, values), vocabulary or {})
    assert matrix.dtype == np.float32
    assert matrix.shape == (len(values), 1)
    return matrix[:, 0].tolist()


def _same(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        if math.isnan(e):
            assert math.isnan(a), (actual, expected)
        else:
            assert a == e, (actual, expected)


def test_it_builds_a_float32_matrix_with_one_row_per_record_and_one_column_per_feature():
    features = parse_spec([NUM, CAT, BOOL, EVT, ACC])
    records = [
        Record(lead={"has_phone": "yes"}, attributes={"age": 56, "job": "admin."}, account={"employees": 40}),
        Record(lead={"has_phone": False}, attributes={"job": "retired"}),
    ]
    matrix = build_matrix(features, records, {"job": ["retired", "admin."]})
    assert matrix.dtype == np.float32
    assert matrix.shape == (2, 5)
    _same(matrix[0].tolist(), [56.0, 1.0, 1.0, 0.0, 40.0])
    _same(matrix[1].tolist(), [math.nan, 0.0, 0.0, 0.0, -1.0])


def test_it_builds_an_empty_matrix_for_no_records():
    matrix = build_matrix(parse_spec([NUM, CAT]), [], {})
    assert matrix.shape == (0, 2)
    assert matrix.dtype == np.float32


def test_it_turns_numeric_text_and_non_finite_values_into_nan_without_crashing():
    values = [56, "41", 2.5, "abc", math.inf, -math.inf, math.nan, True, False, None, "", "   ", "1e3"]
    expected = [
        56.0,
        41.0,
        2.5,
        math.nan,
        math.nan,
        math.nan,
        math.nan,
        1.0,
        0.0,
        math.nan,
        math.nan,
        math.nan,
        1000.0,
    ]
    _same(_column(NUM, "age", values), expected)


def test_it_fills_missing_numbers_with_zero_when_missing_is_zero():
    _same(_column({**NUM, "missing": "zero"}, "age", [None, "abc", math.inf, 7]), [0.0, 0.0, 0.0, 7.0])


def test_it_fills_missing_numbers_with_the_constant_when_missing_is_constant():
    feature = {**NUM, "missing": "constant", "fill_value": -1.5}
    _same(_column(feature, "age", [None, "n/a", math.inf, 2.5, 0]), [-1.5, -1.5, -1.5, 2.5, 0.0])


def test_it_leaves_missing_numbers_as_nan_when_missing_is_nan():
    _same(_column({**NUM, "missing": "nan"}, "age", [None, 0]), [math.nan, 0.0])


def test_it_codes_booleans_from_words_and_python_values():
    values = ["yes", "no", "true", "FALSE", " Y ", "n", "1", "0", True, False, 1, 0, None, "maybe", ""]
    expected = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, math.nan, math.nan, math.nan]
    _same(_column({**BOOL, "source": "attributes.flag"}, "flag", values), expected)


def test_it_fills_missing_booleans_by_the_missing_rule():
    _same(
        _column({**BOOL, "source": "attributes.flag", "missing": "zero"}, "flag", [None, "yes"]), [0.0, 1.0]
    )


def test_it_treats_a_nan_boolean_as_missing():
    # NaN is "missing" everywhere else in this module; bool(nan) is True, so it must not become "yes".
    _same(_column({**BOOL, "source": "attributes.flag"}, "flag", [math.nan]), [math.nan])


def test_it_codes_categories_by_their_vocabulary_index():
    vocabulary = {"job": ["technician", "admin.", "retired"]}
    values = ["admin.", "technician", "retired", "admin."]
    _same(_column(CAT, "job", values, vocabulary), [1.0, 0.0, 2.0, 1.0])


def test_it_codes_an_unseen_category_and_a_missing_one_as_nan():
    vocabulary = {"job": ["technician", "admin."]}
    values = ["astronaut", None, "", "technician"]
    _same(_column(CAT, "job", values, vocabulary), [math.nan, math.nan, math.nan, 0.0])


def test_it_codes_every_category_as_nan_without_a_vocabulary_for_the_feature():
    _same(_column(CAT, "job", ["admin.", None], {"other": ["admin."]}), [math.nan, math.nan])


def test_it_codes_missing_as_the_missing_category_when_missing_is_category():
    vocabulary = {"job": ["admin.", MISSING_CATEGORY]}
    values = [None, "", "admin.", "astronaut"]
    _same(_column({**CAT, "missing": "category"}, "job", values, vocabulary), [1.0, 1.0, 0.0, math.nan])


def test_it_codes_non_string_categories_by_their_text():
    _same(_column(CAT, "job", [3, 1, 2], {"job": ["1", "3"]}), [1.0, 0.0, math.nan])


def test_it_counts_events_into_the_matrix_using_each_records_as_of():
    (visits,) = parse_spec([EVT])
    stamps = [AS_OF - timedelta(days=40), AS_OF - timedelta(days=10), AS_OF - timedelta(days=1)]
    records = [
        Record(events={"pricing_visit": stamps}, as_of=AS_OF),
        Record(
            events={"pricing_visit": stamps}, as_of=AS_OF - timedelta(days=5)
        ),  # the 1-day-ago one is later
        Record(events={"pricing_visit": stamps}, as_of=None),
        Record(as_of=AS_OF),
    ]
    assert build_matrix([visits], records, {})[:, 0].tolist() == [2.0, 1.0, 3.0, 0.0]


# --- decode -----------------------------------------------------------------------------------------------


def test_it_decodes_category_codes_back_to_their_names():
    (job,) = parse_spec([CAT])
    vocabulary = {"job": ["technician", "admin.", "retired"]}
    assert decode(job, 0.0, vocabulary) == "technician"
    assert decode(job, 2.0, vocabulary) == "retired"


def test_it_round_trips_categories_through_the_matrix():
    (job,) = parse_spec([{**CAT, "missing": "category"}])
    values = ["admin.", None, "retired", "admin.", "technician"]
    records = _records("job", values)
    vocabulary = fit_vocabulary([job], records)
    matrix = build_matrix([job], records, vocabulary)
    decoded = [decode(job, float(cell), vocabulary) for cell in matrix[:, 0]]
    assert decoded == ["admin.", MISSING_CATEGORY, "retired", "admin.", "technician"]


@pytest.mark.parametrize("code", [3.0, 60.0, -1.0])
def test_it_decodes_an_out_of_range_code_as_none(code):
    (job,) = parse_spec([CAT])
    assert decode(job, code, {"job": ["technician", "admin.", "retired"]}) is None


def test_it_decodes_nan_as_none_for_every_type():
    for feature in parse_spec([NUM, CAT, BOOL, EVT]):
        assert decode(feature, math.nan, {"job": ["admin."]}) is None


def test_it_decodes_booleans_as_yes_or_no():
    (flag,) = parse_spec([BOOL])
    assert [decode(flag, v, {}) for v in (1.0, 0.0, 0.7, 0.3)] == ["yes", "no", "yes", "no"]


def test_it_decodes_numbers_as_floats():
    age, _, _, visits = parse_spec([NUM, CAT, BOOL, EVT])
    value = decode(age, np.float32(56.0), {})
    assert value == 56.0
    assert type(value) is float
    assert decode(visits, 3.0, {}) == 3.0
    assert decode(age, -2.5, {}) == -2.5


def test_it_builds_a_feature_def_directly_with_xgb_type():
    assert FeatureDef("a", "attributes.a", "categorical", "A").xgb_type == "c"
    assert FeatureDef("a", "attributes.a", "numeric", "A").xgb_type == "q"


@pytest.mark.parametrize("missing", ["zero", "constant"])
def test_it_rejects_numeric_fill_rules_on_a_categorical_feature(missing):
    spec = [{"name": "job", "source": "attributes.job", "type": "categorical", "display": "Job",
             "missing": missing, "fill_value": 0}]  # fmt: skip
    with pytest.raises(SpecError, match="categorical features take missing 'nan' or 'category'"):
        parse_spec(spec)
