import json
import math

import numpy as np
import pytest

from scoring.drift import (
    MISSING,
    DriftThresholds,
    categorical_drift,
    categorical_reference,
    drift_level,
    numeric_drift,
    numeric_reference,
    psi,
    score_drift,
    score_reference,
)

N = 5000


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def strict_json(obj: object) -> object:
    # allow_nan=False: PostgreSQL JSON rejects NaN/Infinity, so a result must never contain them.
    return json.loads(json.dumps(obj, allow_nan=False))


def with_ties(generator: np.random.Generator, n: int) -> np.ndarray:
    values = generator.normal(500.0, 100.0, n)
    values[generator.random(n) < 0.9] = 999.0
    return values


# --- psi ------------------------------------------------------------------------------------


def test_it_gives_exactly_zero_psi_for_identical_shares():
    shares = [0.1, 0.2, 0.3, 0.4, 0.0]
    assert psi(shares, shares) == 0.0


def test_it_gives_a_positive_symmetric_psi_for_shifted_shares():
    expected, actual = [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]
    value = psi(expected, actual)
    # By hand: 2 * 0.3 * ln(2.5).
    assert value == pytest.approx(0.6 * math.log(2.5))
    assert psi(actual, expected) == pytest.approx(value)
    assert psi(expected, [0.45, 0.3, 0.25]) < value


def test_it_keeps_psi_finite_and_positive_when_bins_are_empty_on_either_side():
    one_way = psi([1.0, 0.0], [0.0, 1.0])
    assert math.isfinite(one_way) and one_way > 1.0
    partly_empty = psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2])
    assert math.isfinite(partly_empty) and partly_empty > 0.25
    # A bigger share in a bin the reference never filled is a bigger move.
    assert psi([0.5, 0.5, 0.0], [0.3, 0.3, 0.4]) > partly_empty


def test_it_rejects_share_vectors_that_do_not_line_up():
    with pytest.raises(ValueError):
        psi([0.5, 0.5], [0.2, 0.3, 0.5])


# --- drift_level ----------------------------------------------------------------------------


def test_it_applies_the_psi_thresholds_inclusively_at_the_boundaries():
    assert drift_level(0.0999, 100) == "ok"
    assert drift_level(0.1, 100) == "warn"
    assert drift_level(0.2499, 100) == "warn"
    assert drift_level(0.25, 100) == "alert"
    custom = DriftThresholds(psi_warn=0.2, psi_alert=0.5, min_sample=10)
    assert drift_level(0.1, 10, custom) == "ok"
    assert drift_level(0.5, 10, custom) == "alert"


def test_it_reports_insufficient_below_the_minimum_sample_whatever_the_psi():
    assert drift_level(5.0, 49) == "insufficient"
    assert drift_level(5.0, 50) == "alert"


# --- numeric features ------------------------------------------------------------------------


def test_it_builds_quantile_bins_that_each_hold_about_a_tenth_of_the_reference():
    reference = numeric_reference(rng().normal(0.0, 1.0, N))
    assert len(reference["edges"]) == 9
    assert reference["shares"][:-1] == pytest.approx([0.1] * 10, abs=0.002)
    assert reference["missing_share"] == 0.0
    assert sum(reference["shares"]) == pytest.approx(1.0)
    assert len(reference["sample"]) == 2000
    assert reference["mean"] == pytest.approx(0.0, abs=0.05)
    assert reference["std"] == pytest.approx(1.0, abs=0.05)


def test_it_draws_the_reference_sample_deterministically_from_the_seed():
    values = rng().normal(0.0, 1.0, N)
    first = numeric_reference(values, sample_size=100, seed=3)["sample"]
    assert first == numeric_reference(values, sample_size=100, seed=3)["sample"]
    assert first != numeric_reference(values, sample_size=100, seed=4)["sample"]
    assert set(first) <= set(values.tolist())


def test_it_alerts_on_a_one_sd_mean_shift_with_a_tiny_ks_p_value():
    generator = rng()
    reference = numeric_reference(generator.normal(0.0, 1.0, N))
    result = numeric_drift("age", reference, generator.normal(1.0, 1.0, N))
    assert result.level == "alert"
    assert result.p_value < 1e-10
    assert result.statistic > 0.3
    assert result.detail["significant"] is True
    assert result.detail["recent_mean"] == pytest.approx(1.0, abs=0.05)


def test_it_stays_ok_on_a_fresh_sample_from_the_same_distribution():
    generator = rng()
    reference = numeric_reference(generator.normal(0.0, 1.0, N))
    result = numeric_drift("age", reference, generator.normal(0.0, 1.0, N))
    assert result.level == "ok"
    assert result.psi < 0.02
    assert result.p_value > 0.01


def test_it_detects_a_change_of_scale_with_the_same_mean():
    generator = rng()
    reference = numeric_reference(generator.normal(0.0, 1.0, N))
    result = numeric_drift("age", reference, generator.normal(0.0, 2.0, N))
    assert result.level == "alert"
    assert result.p_value < 1e-10
    # The move is in the tails, which is where the detail should point.
    assert {moved["label"][0] for moved in result.detail["top_moved"][:2]} == {"<", ">"}


def test_it_alerts_when_a_numeric_feature_starts_going_missing():
    generator = rng()
    reference = numeric_reference(generator.normal(0.0, 1.0, N))
    recent = generator.normal(0.0, 1.0, N).tolist()
    for i in np.flatnonzero(generator.random(N) < 0.4):
        recent[i] = None
    result = numeric_drift("age", reference, recent)
    assert result.level == "alert"
    assert result.detail["recent_missing_share"] == pytest.approx(0.4, abs=0.02)
    assert result.detail["top_moved"][0]["label"] == "missing"
    # The values that are present have not moved, and KS only looks at those.
    assert result.p_value > 0.01


def test_it_survives_heavy_ties_and_stays_ok_on_an_unshifted_sample():
    generator = rng()
    reference = numeric_reference(with_ties(generator, N))
    assert reference["edges"] == sorted(set(reference["edges"]))
    assert 999.0 in reference["edges"]
    assert len(reference["shares"]) == len(reference["edges"]) + 2
    assert sum(reference["shares"]) == pytest.approx(1.0)
    assert numeric_drift("revenue", reference, with_ties(generator, N)).level == "ok"


def test_it_handles_a_constant_reference():
    reference = numeric_reference([999.0] * 200)
    assert reference["edges"] == [999.0]
    assert numeric_drift("revenue", reference, [999.0] * 200).level == "ok"
    assert numeric_drift("revenue", reference, [1.0] * 200).level == "alert"


def test_it_reports_insufficient_for_too_few_recent_values_even_when_shifted():
    generator = rng()
    reference = numeric_reference(generator.normal(0.0, 1.0, N))
    result = numeric_drift("age", reference, generator.normal(3.0, 1.0, 49))
    assert result.level == "insufficient"
    assert result.recent_size == 49
    assert result.psi > 0.25


def test_it_treats_lists_tuples_arrays_and_none_alike():
    values = [1.0, 2.0, None, 4.0, 5.0, float("nan"), 7.0, 8.0]
    from_list = numeric_reference(values, bins=4)
    assert from_list == numeric_reference(tuple(values), bins=4)
    assert from_list == numeric_reference(np.array(values, dtype=float), bins=4)
    assert from_list["missing_share"] == pytest.approx(0.25)
    assert from_list["size"] == 8


def test_it_compares_nothing_when_there_are_no_recent_values():
    reference = numeric_reference(rng().normal(0.0, 1.0, 500))
    result = numeric_drift("age", reference, [])
    assert (result.psi, result.statistic, result.p_value, result.level) == (0.0, 0.0, 1.0, "insufficient")


# --- categorical features --------------------------------------------------------------------


def test_it_alerts_when_the_category_mix_flips_and_stays_ok_when_it_does_not():
    generator = rng()
    reference = categorical_reference(generator.choice(["smb", "ent"], N, p=[0.7, 0.3]))
    same = categorical_drift("segment", reference, generator.choice(["smb", "ent"], N, p=[0.7, 0.3]))
    flipped = categorical_drift("segment", reference, generator.choice(["smb", "ent"], N, p=[0.3, 0.7]))
    assert same.level == "ok"
    assert same.p_value > 0.01
    assert flipped.level == "alert"
    assert flipped.p_value < 1e-10
    assert flipped.psi == pytest.approx(0.8 * math.log(7 / 3), abs=0.1)


def test_it_alerts_when_a_category_unseen_in_training_takes_most_of_the_mass():
    generator = rng()
    reference = categorical_reference(generator.choice(["smb", "ent"], N, p=[0.7, 0.3]))
    recent = generator.choice(["smb", "ent"], 2000, p=[0.7, 0.3]).tolist() + ["partner"] * 3000
    result = categorical_drift("segment", reference, recent)
    assert result.level == "alert"
    assert result.psi > 1.0
    assert result.detail["top_moved"][0]["label"] == "__other__"
    assert result.detail["unseen"] == [{"label": "partner", "actual": 0.6}]


def test_it_alerts_when_a_categorical_feature_starts_going_missing():
    generator = rng()
    reference = categorical_reference(generator.choice(["smb", "ent"], N))
    # 40% blank (None, NaN or ""); the rest keeps the training mix.
    recent = generator.choice(["smb", "ent", None, float("nan"), ""], N, p=[0.3, 0.3, 0.2, 0.1, 0.1]).tolist()
    result = categorical_drift("segment", reference, recent)
    assert result.level == "alert"
    assert result.detail["top_moved"][0]["label"] == MISSING
    assert [c["label"] for c in result.detail["categories"]] == [*reference["shares"], MISSING]
    assert result.detail["categories"][-1]["actual"] == pytest.approx(0.4, abs=0.02)


def test_it_pools_rare_categories_and_keeps_missing_apart():
    values = ["a"] * 50 + ["b"] * 30 + ["c"] * 10 + ["d"] * 5 + [None] * 3 + [float("nan"), ""]
    reference = categorical_reference(values, max_categories=2)
    assert reference["shares"] == pytest.approx({"a": 0.5, "b": 0.3, "__other__": 0.15, MISSING: 0.05})
    assert reference["size"] == 100
    # A pooled category comes back as "__other__", not as drift.
    result = categorical_drift("c", reference, values)
    assert result.psi == 0.0
    assert result.level == "ok"


def test_it_gives_a_neutral_test_for_a_single_category():
    reference = categorical_reference(["smb"] * 100)
    result = categorical_drift("segment", reference, ["smb"] * 100)
    assert (result.psi, result.statistic, result.p_value, result.level) == (0.0, 0.0, 1.0, "ok")


# --- scores and serialisation ----------------------------------------------------------------


def test_it_uses_fixed_equal_width_bins_for_scores_and_alerts_when_they_shift():
    generator = rng()
    reference = score_reference(generator.uniform(0.0, 100.0, N))
    assert reference["edges"] == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    assert reference["sample"]
    same = score_drift(reference, generator.uniform(0.0, 100.0, N))
    shifted = score_drift(reference, np.clip(generator.normal(80.0, 10.0, N), 0.0, 100.0))
    assert same.feature == "score" and same.level == "ok"
    assert shifted.level == "alert"
    assert shifted.p_value < 1e-10


def test_it_produces_strict_json_references_and_results_that_work_after_a_round_trip():
    generator = rng()
    numeric = numeric_reference(np.append(generator.normal(0.0, 1.0, 500), [np.nan, np.inf]))
    categorical = categorical_reference(["a", "b", None] * 100)
    scores = score_reference(generator.uniform(0.0, 100.0, 500))
    empty_numeric = numeric_reference([None, None])
    for reference in (numeric, categorical, scores, empty_numeric):
        assert strict_json(reference) == reference

    recent = generator.normal(0.5, 1.0, 500)
    results = [
        numeric_drift("x", numeric, recent),
        categorical_drift("c", categorical, ["a", "z", None] * 100),
        score_drift(scores, generator.uniform(0.0, 100.0, 500)),
        numeric_drift("x", empty_numeric, recent),
    ]
    for result in results:
        assert strict_json(result.as_dict()) == result.as_dict()
    # A reference read back from a JSONField gives the same answer as the in-memory one.
    assert numeric_drift("x", strict_json(numeric), recent) == results[0]


def test_it_refuses_a_reference_of_the_wrong_kind():
    with pytest.raises(ValueError):
        numeric_drift("x", categorical_reference(["a"]), [1.0])
    with pytest.raises(ValueError):
        categorical_drift("x", numeric_reference([1.0]), ["a"])
