import json
import math
import warnings

import numpy as np
import pytest

from scoring.calibration import Platt, fit_platt, score_points


def _logistic_sample(n: int = 20000, a: float = 2.0, b: float = -1.0, seed: int = 7):
    rng = np.random.default_rng(seed)
    margin = rng.normal(0.0, 1.5, n)
    truth = 1.0 / (1.0 + np.exp(-(a * margin + b)))
    y = (rng.random(n) < truth).astype(np.int8)
    return margin, y


def test_it_recovers_a_known_logistic_slope_and_intercept():
    margin, y = _logistic_sample()
    platt = fit_platt(margin, y)
    assert abs(platt.a - 2.0) < 0.1
    assert abs(platt.b - (-1.0)) < 0.1


def test_it_makes_the_mean_calibrated_probability_match_the_label_rate():
    margin, y = _logistic_sample(seed=11)
    probability = fit_platt(margin, y).probability(margin)
    assert abs(probability.mean() - y.mean()) < 0.002


def test_it_fits_platts_smoothed_targets_exactly_on_a_separable_pair():
    # One positive at +1, one negative at -1: unsmoothed ML would push a to infinity. Platt's targets are
    # (1+1)/(1+2) = 2/3 and 1/(1+2) = 1/3, so a*1 + b = log 2 and -a + b = -log 2: a = log 2, b = 0.
    platt = fit_platt([-1.0, 1.0], [0, 1])
    assert platt.a == pytest.approx(math.log(2.0), abs=1e-7)
    assert platt.b == pytest.approx(0.0, abs=1e-7)
    assert platt.probability(1.0) == pytest.approx(2.0 / 3.0, abs=1e-7)


def test_it_uses_class_counts_in_the_smoothed_targets():
    # Two of each class: targets 3/4 and 1/4, so a = log 3, b = 0.
    platt = fit_platt([-1.0, -1.0, 1.0, 1.0], [False, False, True, True])
    assert platt.a == pytest.approx(math.log(3.0), abs=1e-7)
    assert platt.b == pytest.approx(0.0, abs=1e-7)


def test_it_gives_strictly_increasing_probability_in_the_margin():
    margin, y = _logistic_sample(n=2000, seed=3)
    platt = fit_platt(margin, y)
    assert platt.a > 0
    grid = np.linspace(-10.0, 10.0, 401)
    assert np.all(np.diff(platt.probability(grid)) > 0)


def test_it_computes_the_logistic_formula():
    platt = Platt(a=0.5, b=-2.0)
    margins = np.array([-3.0, 0.0, 4.0, 10.0])
    expected = [1.0 / (1.0 + math.exp(-(0.5 * m - 2.0))) for m in margins]
    result = platt.probability(margins)
    assert result.dtype == np.float64
    assert result.tolist() == pytest.approx(expected, rel=1e-12)


def test_it_maps_extreme_margins_to_zero_and_one_without_warnings():
    platt = Platt(a=2.0, b=-1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = platt.probability(np.array([-1000.0, 1000.0, -1e308, 1e308, -np.inf, np.inf]))
    assert result.tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]


def test_it_refuses_a_margin_that_decreases_with_the_label():
    margin, y = _logistic_sample(n=2000, seed=5)
    with pytest.raises(ValueError, match="does not increase with the label"):
        fit_platt(-margin, y)


def test_it_refuses_a_margin_unrelated_to_the_label_when_the_slope_comes_out_non_positive():
    # Exactly mirrored data: positives and negatives have identical margins, so the ML slope is 0.
    margin = np.array([-2.0, -1.0, 1.0, 2.0, -2.0, -1.0, 1.0, 2.0])
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="does not increase with the label"):
        fit_platt(margin, y)


def test_it_refuses_a_single_class():
    with pytest.raises(ValueError, match="single class"):
        fit_platt([0.1, 0.5, 0.9], [1, 1, 1])
    with pytest.raises(ValueError, match="single class"):
        fit_platt([0.1, 0.5, 0.9], [0, 0, 0])


def test_it_refuses_a_constant_margin_and_bad_inputs():
    with pytest.raises(ValueError, match="constant"):
        fit_platt([0.3, 0.3, 0.3, 0.3], [0, 1, 0, 1])
    with pytest.raises(ValueError, match="NaN"):
        fit_platt([0.1, np.nan], [0, 1])
    with pytest.raises(ValueError, match="0/1"):
        fit_platt([0.1, 0.2, 0.3], [0, 1, 2])
    with pytest.raises(ValueError, match="3 values but y has 2"):
        fit_platt([0.1, 0.2, 0.3], [0, 1])


def test_it_never_constructs_a_ranking_reversing_calibration():
    with pytest.raises(ValueError, match="positive"):
        Platt(a=0.0, b=1.0)
    with pytest.raises(ValueError, match="positive"):
        Platt.from_dict({"a": -1.0, "b": 0.0})
    with pytest.raises(ValueError, match="'b'"):
        Platt.from_dict({"a": 1.0})


def test_it_round_trips_through_a_json_dict():
    margin, y = _logistic_sample(n=1000, seed=9)
    platt = fit_platt(margin, y)
    stored = json.loads(json.dumps(platt.as_dict()))
    assert {type(v) for v in platt.as_dict().values()} == {float}
    assert Platt.from_dict(stored) == platt


def test_it_rounds_and_clips_probabilities_to_integer_points():
    points = score_points(np.array([-0.2, 0.0, 0.004, 0.006, 0.494, 0.506, 0.799, 0.8, 1.0, 1.3]))
    assert np.issubdtype(points.dtype, np.integer)
    assert points.tolist() == [0, 0, 0, 1, 49, 51, 80, 80, 100, 100]


def test_it_refuses_to_score_a_nan_probability():
    with pytest.raises(ValueError, match="NaN"):
        score_points([0.5, np.nan])
