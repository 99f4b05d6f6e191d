import json
import math

import numpy as np
import pytest

from scoring.metrics import evaluate, roc_auc, single_feature_auc, tier_for

THRESHOLDS = {"hot": 80.0, "warm": 50.0}

# Six leads, sorted by probability. Scores 90, 80, 70, 60, 50, 10 -> hot, hot, warm, warm, warm, cold.
Y = [1, 1, 0, 1, 0, 0]
P = [0.9, 0.8, 0.7, 0.6, 0.5, 0.1]


def _plain_json(value):
    """True if ``value`` holds only JSON-native Python types (no numpy scalars hiding as floats)."""
    if isinstance(value, dict):
        return all(type(k) is str and _plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_it_evaluates_a_hand_computed_example():
    report = evaluate(Y, P, thresholds=THRESHOLDS)
    assert (report["n"], report["positives"], report["positive_rate"]) == (6, 3, 0.5)
    # Positives 0.9, 0.8, 0.6 against negatives 0.7, 0.5, 0.1: 3 + 3 + 2 of 9 pairs ordered right.
    assert report["roc_auc"] == pytest.approx(8 / 9)
    # Precision at each positive in rank order: 1/1, 2/2, 3/4.
    assert report["pr_auc"] == pytest.approx((1 + 1 + 0.75) / 3)
    assert report["brier"] == pytest.approx((0.01 + 0.04 + 0.49 + 0.16 + 0.25 + 0.01) / 6)
    expected_log_loss = (
        -(math.log(0.9) + math.log(0.8) + math.log(0.3) + math.log(0.6) + math.log(0.5) + math.log(0.9)) / 6
    )
    assert report["log_loss"] == pytest.approx(expected_log_loss)


def test_it_counts_the_confusion_matrix_at_each_tier_threshold():
    confusion = evaluate(Y, P, thresholds=THRESHOLDS)["confusion"]
    assert confusion["hot"] == {
        "threshold": 80.0, "tp": 2, "fp": 0, "tn": 3, "fn": 1,
        "precision": 1.0, "recall": pytest.approx(2 / 3),
    }  # fmt: skip
    assert confusion["warm"] == {
        "threshold": 50.0, "tp": 3, "fp": 2, "tn": 1, "fn": 0, "precision": 0.6, "recall": 1.0,
    }  # fmt: skip


def test_it_reports_tier_shares_from_the_rounded_scores():
    shares = evaluate(Y, P, thresholds=THRESHOLDS)["tier_shares"]
    assert shares == pytest.approx({"hot": 2 / 6, "warm": 3 / 6, "cold": 1 / 6})


def test_it_orders_lift_deciles_from_the_highest_scores_down():
    # Shuffle the rows: deciles must follow the probability, not the input order.
    order = [3, 0, 5, 2, 4, 1]
    lift = evaluate([Y[i] for i in order], [P[i] for i in order], thresholds=THRESHOLDS)["lift"]
    assert [d["decile"] for d in lift] == list(range(1, 11))
    # Six rows over ten deciles: one row each in deciles 1-6, in descending probability.
    assert [d["count"] for d in lift] == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert [d["positives"] for d in lift[:6]] == [1, 1, 0, 1, 0, 0]
    assert [d["lift"] for d in lift[:6]] == [2.0, 2.0, 0.0, 2.0, 0.0, 0.0]
    assert all(d["rate"] is None and d["lift"] is None for d in lift[6:])


def test_it_splits_lift_deciles_evenly_on_larger_data():
    rng = np.random.default_rng(1)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    lift = evaluate(y, p, thresholds=THRESHOLDS)["lift"]
    assert [d["count"] for d in lift] == [100] * 10
    top = np.argsort(-p)[:100]
    assert lift[0]["positives"] == int(y[top].sum())
    assert lift[0]["lift"] == pytest.approx(y[top].mean() / y.mean())
    assert lift[0]["lift"] > 1.5 > 0.5 > lift[-1]["lift"]


def test_it_bins_probabilities_into_equal_width_calibration_bins():
    calibration = evaluate(Y, P, thresholds=THRESHOLDS, bins=10)["calibration"]
    assert [(b["bin"], b["lower"], b["upper"]) for b in calibration[:2]] == [(0, 0.0, 0.1), (1, 0.1, 0.2)]
    assert calibration[-1]["upper"] == 1.0
    # Each probability sits on a lower edge, which belongs to its bin.
    assert [b["count"] for b in calibration] == [0, 1, 0, 0, 0, 1, 1, 1, 1, 1]
    assert [b["observed_rate"] for b in calibration] == [None, 0.0, None, None, None, 0.0, 1.0, 0.0, 1.0, 1.0]
    assert calibration[7]["mean_predicted"] == pytest.approx(0.7)
    assert calibration[0]["mean_predicted"] is None


def test_it_puts_probability_one_in_the_last_bin_and_averages_within_a_bin():
    calibration = evaluate([1, 0, 1], [1.0, 0.05, 0.15], thresholds=THRESHOLDS, bins=2)["calibration"]
    assert [b["count"] for b in calibration] == [2, 1]
    assert calibration[0]["mean_predicted"] == pytest.approx(0.1)
    assert calibration[0]["observed_rate"] == pytest.approx(0.5)


def test_it_returns_plain_json_types():
    rng = np.random.default_rng(2)
    p = rng.random(200)
    y = (rng.random(200) < p).astype(np.int8)
    report = evaluate(y, p, thresholds=THRESHOLDS)
    assert _plain_json(report)
    assert json.loads(json.dumps(report)) == report


def test_it_gives_auc_one_for_a_perfect_ranking():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert evaluate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], thresholds=THRESHOLDS)["roc_auc"] == 1.0
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0


def test_it_leaves_ranking_metrics_undefined_for_a_single_class():
    assert roc_auc([1, 1, 1], [0.2, 0.5, 0.9]) is None
    report = evaluate([0, 0, 0], [0.2, 0.5, 0.9], thresholds=THRESHOLDS)
    assert report["roc_auc"] is None and report["pr_auc"] is None
    assert report["confusion"]["warm"]["recall"] is None
    assert all(d["lift"] is None for d in report["lift"])
    assert json.dumps(report)


def test_it_clips_log_loss_for_confident_mistakes():
    report = evaluate([1, 0], [0.0, 1.0], thresholds=THRESHOLDS)
    # 0 becomes 1e-15 and 1 becomes 1 - 1e-15 (whose complement is 1e-15 up to float rounding).
    expected = -(math.log(1e-15) + math.log(1.0 - (1.0 - 1e-15))) / 2
    assert report["log_loss"] == pytest.approx(expected, rel=1e-9)
    assert math.isfinite(report["log_loss"])
    assert report["brier"] == 1.0


def test_it_rejects_invalid_evaluation_inputs():
    with pytest.raises(ValueError, match="0, 1"):
        evaluate([0, 1], [0.5, 1.5], thresholds=THRESHOLDS)
    with pytest.raises(ValueError, match="2 labels but 3"):
        evaluate([0, 1], [0.5, 0.6, 0.7], thresholds=THRESHOLDS)
    with pytest.raises(ValueError, match="bins"):
        evaluate([0, 1], [0.5, 0.6], thresholds=THRESHOLDS, bins=0)


def test_it_assigns_tiers_at_the_exact_boundaries():
    tiers = tier_for(np.array([100, 80, 79, 50, 49, 0]), THRESHOLDS)
    assert tiers.tolist() == ["hot", "hot", "warm", "warm", "cold", "cold"]


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"hot": 50, "warm": 50}, r"warm \(50\) must be below hot \(50\)"),
        ({"hot": 40, "warm": 60}, r"warm \(60\) must be below hot \(40\)"),
        ({"hot": 101, "warm": 50}, r"hot \(101\) must be at most 100"),
        ({"hot": 80, "warm": -1}, r"warm \(-1\) must be at least 0"),
        ({"hot": 80}, "'warm' is missing"),
    ],
)
def test_it_rejects_invalid_tier_thresholds(thresholds, message):
    with pytest.raises(ValueError, match=message):
        tier_for([10, 90], thresholds)


def test_it_measures_single_feature_auc_regardless_of_direction():
    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.3).astype(int)
    feature = y * 0.8 + rng.normal(0.0, 1.0, 500)
    forward = single_feature_auc(feature, y)
    assert forward == pytest.approx(single_feature_auc(-feature, y))
    assert 0.6 < forward < 0.9
    # Hand example: values 1, 2, 3, 4 with labels 1, 0, 0, 0 give AUC 0; direction-free, that is 1.
    assert single_feature_auc([1.0, 2.0, 3.0, 4.0], [1, 0, 0, 0]) == 1.0


def test_it_flags_a_leaking_feature_and_not_noise():
    rng = np.random.default_rng(4)
    y = (rng.random(2000) < 0.2).astype(int)
    assert single_feature_auc(y.astype(float), y) == 1.0
    noise = single_feature_auc(rng.normal(size=2000), y)
    assert 0.5 <= noise < 0.55


def test_it_treats_missing_feature_values_as_the_lowest_value():
    # Dropping NaN would leave one class; as the lowest value, missingness itself separates the labels.
    assert single_feature_auc([np.nan, np.nan, 1.0, 2.0], [0, 0, 1, 1]) == 1.0
    # NaN below 1.0: positives {NaN, 3} against negatives {1, 2} -> 2 of 4 pairs right.
    assert single_feature_auc([np.nan, 1.0, 2.0, 3.0], [1, 0, 0, 1]) == 0.5


def test_it_has_no_single_feature_auc_for_constant_features_or_one_class():
    assert single_feature_auc([2.0, 2.0, 2.0], [0, 1, 1]) is None
    assert single_feature_auc([np.nan, np.nan], [0, 1]) is None
    assert single_feature_auc([1.0, 2.0, 3.0], [1, 1, 1]) is None
