import json
import math

import numpy as np
import pytest

from scoring.explain import (
    format_points,
    format_value,
    points_from_contributions,
    reason_text,
    top_reasons,
    top_reasons_json,
)
from scoring.features import FeatureDef, decode, parse_spec

MINUS = "\u2212"

AGE = {"name": "age", "source": "attributes.age", "type": "numeric", "display": "Age"}
JOB = {"name": "job", "source": "attributes.job", "type": "categorical", "display": "Job"}
VISITS = {
    "name": "visits_30d",
    "source": "events.pricing_visit",
    "type": "event_count",
    "window_days": 30,
    "display": "Pricing visits",
}
FLAG = {"name": "has_phone", "source": "lead.has_phone", "type": "boolean", "display": "Has phone"}
TENURE = {
    "name": "tenure",
    "source": "attributes.tenure",
    "type": "numeric",
    "display": "Tenure",
    "unit": "days",
}


def _one(spec):
    return parse_spec([spec])[0]


# --- points_from_contributions ----------------------------------------------------------------------------


def test_it_shares_the_score_difference_in_proportion_to_the_contributions():
    contributions = np.array([[1.0, 3.0], [2.0, -1.0]])
    scores = np.array([70.0, 40.0])
    points = points_from_contributions(contributions, scores, 50.0, np.array([99.0, 99.0]))
    # Row 0: total 4, difference +20 -> 5 points per unit. Row 1: total 1, difference -10 -> -10 per unit.
    assert points.ravel().tolist() == pytest.approx([5.0, 15.0, -20.0, 10.0])


def test_it_makes_each_rows_points_add_up_to_score_minus_base_score():
    contributions = np.array([[0.3, -0.1, 0.25, 0.05], [-0.4, -0.2, 0.1, 0.0], [1.5, 0.0, 0.0, -0.7]])
    scores = np.array([63.2, 31.7, 88.9])
    points = points_from_contributions(contributions, scores, 47.5, np.ones(3))
    assert points.sum(axis=1).tolist() == pytest.approx([63.2 - 47.5, 31.7 - 47.5, 88.9 - 47.5])
    # Proportional: within a row, points keep the ratios (and signs) of the contributions.
    assert points[0, 0] / points[0, 2] == pytest.approx(0.3 / 0.25)
    assert points[2, 3] / points[2, 0] == pytest.approx(-0.7 / 1.5)
    assert points[1, 3] == 0.0


def test_it_falls_back_to_the_slope_where_contributions_cancel_out():
    contributions = np.array([[0.5, -0.5], [2e-7, 3e-7], [1.0, 1.0]])
    scores = np.array([55.0, 60.0, 70.0])
    slope = np.array([8.0, 12.0, 99.0])
    points = points_from_contributions(contributions, scores, 50.0, slope)
    assert points[0].tolist() == pytest.approx([4.0, -4.0])  # total 0 -> contribution * slope 8
    assert points[1].tolist() == pytest.approx([2.4e-6, 3.6e-6])  # total 5e-7 < 1e-6 -> slope 12
    assert points[2].tolist() == pytest.approx([10.0, 10.0])  # normal row: difference 20 over total 2
    assert np.isfinite(points).all()


# --- format_points / format_value / reason_text -----------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "text"),
    [
        (4.2, "+4 points"),
        (12.4, "+12 points"),
        (-3.2, f"{MINUS}3 points"),
        (-17.0, f"{MINUS}17 points"),
        (0.34, "+0.3 points"),
        (-0.56, f"{MINUS}0.6 points"),
        (0.0, "+0.0 points"),
        (1.0, "+1 point"),
        (-1.0, f"{MINUS}1 point"),
        (1.2, "+1 point"),
        (2.0, "+2 points"),
    ],
)
def test_it_formats_points_with_a_sign_and_the_right_plural(points, text):
    assert format_points(points) == text


def test_it_uses_the_unicode_minus_sign_not_a_hyphen():
    text = format_points(-5.0)
    assert text.startswith("\u2212")
    assert "-" not in text


def test_it_formats_missing_values():
    assert format_value(_one(AGE), None) == "missing"
    assert format_value(_one(TENURE), None) == "missing"


def test_it_formats_whole_numbers_without_decimals():
    assert format_value(_one(AGE), 56.0) == "56"
    assert format_value(_one(AGE), -3.0) == "-3"
    assert format_value(_one(AGE), 0.0) == "0"


def test_it_formats_other_numbers_to_three_significant_digits():
    age = _one(AGE)
    assert format_value(age, 3.14159) == "3.14"
    assert format_value(age, 0.012345) == "0.0123"
    assert format_value(age, 56.78) == "56.8"
    assert format_value(age, 2.5) == "2.5"


def test_it_formats_event_counts_as_whole_numbers():
    visits = _one(VISITS)
    assert format_value(visits, 3.0) == "3"
    assert format_value(visits, 2.6) == "3"


def test_it_appends_the_unit_to_numbers():
    tenure = _one(TENURE)
    assert format_value(tenure, 12.0) == "12 days"
    assert format_value(tenure, 2.5) == "2.5 days"
    assert format_value(_one({**VISITS, "unit": "visits"}), 4.0) == "4 visits"


def test_it_formats_categories_and_booleans_as_their_text():
    assert format_value(_one(JOB), "admin.") == "admin."
    assert format_value(_one(FLAG), "yes") == "yes"


def test_it_writes_a_reason_as_display_value_and_points():
    assert reason_text(_one(AGE), 56.0, 4.2) == "Age 56: +4 points"
    assert reason_text(_one(JOB), "retired", -3.4) == f"Job retired: {MINUS}3 points"
    assert reason_text(_one(TENURE), 2.5, 0.44) == "Tenure 2.5 days: +0.4 points"
    assert reason_text(_one(AGE), None, 1.0) == "Age missing: +1 point"


# --- top_reasons ------------------------------------------------------------------------------------------

FEATURES = parse_spec([AGE, JOB, VISITS, FLAG])
VOCABULARY = {"job": ["admin.", "technician"]}
MATRIX = np.array([[56.0, 1.0, 3.0, 1.0], [30.0, 0.0, math.nan, 0.0]], dtype=np.float32)
POINTS = np.array([[4.2, -7.4, 0.0, 1.0], [0.0, 2.0, -3.0, 0.5]])


def test_it_gives_at_most_top_reasons_per_row_largest_absolute_points_first():
    reasons = top_reasons(POINTS, MATRIX, FEATURES, VOCABULARY, top=2)
    assert [[r["feature"] for r in row] for row in reasons] == [["job", "age"], ["visits_30d", "job"]]


def test_it_skips_reasons_worth_zero_points():
    reasons = top_reasons(POINTS, MATRIX, FEATURES, VOCABULARY, top=5)
    assert [[r["feature"] for r in row] for row in reasons] == [
        ["job", "age", "has_phone"],
        ["visits_30d", "job", "has_phone"],
    ]


def test_it_describes_each_reason_with_its_decoded_value_and_text():
    first, second = top_reasons(POINTS, MATRIX, FEATURES, VOCABULARY)
    assert first == [
        {"feature": "job", "value": "technician", "points": -7.4, "text": f"Job technician: {MINUS}7 points"},
        {"feature": "age", "value": 56.0, "points": 4.2, "text": "Age 56: +4 points"},
        {"feature": "has_phone", "value": "yes", "points": 1.0, "text": "Has phone yes: +1 point"},
    ]
    assert second == [
        {
            "feature": "visits_30d",
            "value": None,
            "points": -3.0,
            "text": f"Pricing visits missing: {MINUS}3 points",
        },
        {"feature": "job", "value": "admin.", "points": 2.0, "text": "Job admin.: +2 points"},
        {"feature": "has_phone", "value": "no", "points": 0.5, "text": "Has phone no: +0.5 points"},
    ]


def test_it_rounds_reason_points_to_two_decimals_but_words_from_the_exact_value():
    points = np.array([[1.23456, -0.61234]])
    matrix = np.array([[40.0, 0.0]], dtype=np.float32)
    (row,) = top_reasons(points, matrix, parse_spec([AGE, JOB]), VOCABULARY)
    assert [r["points"] for r in row] == [1.23, -0.61]
    assert [r["text"] for r in row] == ["Age 40: +1 point", f"Job admin.: {MINUS}0.6 points"]


def test_it_keeps_column_order_between_equal_absolute_points():
    points = np.array([[2.0, -3.0, 3.0, -2.0]])
    (row,) = top_reasons(points, MATRIX[:1], FEATURES, VOCABULARY)
    assert [r["feature"] for r in row] == ["job", "visits_30d", "age", "has_phone"]


def test_it_returns_an_empty_list_for_a_row_with_no_points():
    reasons = top_reasons(np.zeros((2, 4)), MATRIX, FEATURES, VOCABULARY)
    assert reasons == [[], []]


def test_it_decodes_an_unknown_category_code_as_missing():
    matrix = np.array([[56.0, 9.0, 0.0, 0.0]], dtype=np.float32)
    points = np.array([[0.0, 5.0, 0.0, 0.0]])
    (row,) = top_reasons(points, matrix, FEATURES, VOCABULARY)
    assert row == [{"feature": "job", "value": None, "points": 5.0, "text": "Job missing: +5 points"}]


@pytest.mark.parametrize(
    ("points", "expected"), [(0.96, "+1 point"), (-0.04, "+0.0 points"), (-2.4, "−2 points")]
)
def test_it_rounds_points_before_choosing_sign_and_plural(points, expected):
    assert format_points(points) == expected


def test_it_writes_large_numbers_with_separators_not_scientific_notation():
    feature = FeatureDef(name="n", source="attributes.n", type="numeric", display="Employees")
    assert format_value(feature, 5191.3) == "5,191"


def _reference_reasons(points, matrix, features, vocabulary, top):
    """The plain per-lead loop the vectorised builder must agree with."""
    reasons = []
    for row_points, row_values in zip(points.tolist(), matrix.tolist(), strict=True):
        order = sorted(range(len(row_points)), key=lambda c: -abs(row_points[c]))[:top]
        lead = []
        for column in order:
            if row_points[column] == 0.0:
                continue
            feature = features[column]
            value = decode(feature, row_values[column], vocabulary)
            rounded = round(row_points[column] * 100) / 100  # hundredths, half to even
            lead.append(
                {
                    "feature": feature.name,
                    "value": value,
                    "points": rounded,
                    "text": f"{feature.display} {format_value(feature, value)}: {format_points(rounded)}",
                }
            )
        reasons.append(lead)
    return reasons


@pytest.mark.parametrize("seed", range(5))
def test_the_json_builder_agrees_with_a_plain_loop_on_random_leads(seed):
    rng = np.random.default_rng(seed)
    rows = 400
    matrix = np.column_stack(
        [
            rng.integers(18, 90, rows).astype(np.float32),  # age
            rng.integers(0, 3, rows).astype(np.float32),  # job, code 2 is unknown
            rng.integers(0, 4, rows).astype(np.float32),  # visits
            rng.integers(0, 2, rows).astype(np.float32),  # has_phone
        ]
    )
    matrix[rng.random(matrix.shape) < 0.1] = np.nan
    points = np.round(rng.normal(0, 5, (rows, 4)), rng.integers(0, 4))
    points[rng.random(points.shape) < 0.1] = 0.0
    points[0] = [0.004, -0.004, 1e-9, -2.5]  # round to ±0.0, which is shown as +0.0
    for top in (1, 3, 5):
        got = [json.loads(row) for row in top_reasons_json(points, matrix, FEATURES, VOCABULARY, top=top)]
        assert got == _reference_reasons(points, matrix, FEATURES, VOCABULARY, top)
