import json

import numpy as np
import pytest

from scoring.fairness import FairnessBounds, band_values, subgroup_report

THRESHOLDS = {"hot": 80.0, "warm": 50.0}


def _plain_json(value):
    """True if ``value`` holds only JSON-native Python types (no numpy scalars hiding as floats)."""
    if isinstance(value, dict):
        return all(type(k) is str and _plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def _group(name, positive_scores, negative_scores):
    """Rows of one group: (group labels, labels, scores)."""
    y = [1] * len(positive_scores) + [0] * len(negative_scores)
    return [name] * len(y), y, list(positive_scores) + list(negative_scores)


def _combine(*parts):
    groups, y, scores = [], [], []
    for g, labels, s in parts:
        groups += g
        y += labels
        scores += s
    return groups, np.array(y), np.array(scores)


def _report(groups, y, scores, **kwargs):
    return subgroup_report(
        "segment", groups, y, scores, positive_threshold=50, thresholds=THRESHOLDS, **kwargs
    )


def _by_name(report):
    return {row["group"]: row for row in report["groups"]}


def test_it_passes_two_groups_that_are_scored_alike():
    rng = np.random.default_rng(0)
    positives = rng.integers(30, 100, 40).tolist()
    negatives = rng.integers(0, 70, 160).tolist()
    report = _report(*_combine(_group("a", positives, negatives), _group("b", positives, negatives)))
    assert report["passed"] is True
    assert report["violations"] == []
    assert report["gaps"] == {"tpr": 0.0, "fpr": 0.0, "mean_score": 0.0}
    rows = _by_name(report)
    expected_tpr = sum(s >= 50 for s in positives) / 40
    assert rows["a"]["tpr"] == rows["b"]["tpr"] == pytest.approx(expected_tpr)
    assert rows["a"]["eligible"] and rows["b"]["eligible"]


def test_it_flags_a_group_whose_positives_are_under_scored():
    # A: 15 of 20 positives reach 50 (TPR 0.75); B: 5 of 20 (TPR 0.25). Negatives alike at 20.
    a = _group("A", [70] * 15 + [30] * 5, [20] * 80)
    b = _group("B", [70] * 5 + [30] * 15, [20] * 80)
    report = _report(*_combine(a, b))
    rows = _by_name(report)
    assert (rows["A"]["tpr"], rows["B"]["tpr"]) == (0.75, 0.25)
    assert (rows["A"]["fpr"], rows["B"]["fpr"]) == (0.0, 0.0)
    # Means by hand: (15*70 + 5*30 + 80*20) / 100 = 28 and (5*70 + 15*30 + 80*20) / 100 = 24.
    assert (rows["A"]["mean_score"], rows["B"]["mean_score"]) == (28.0, 24.0)
    assert report["gaps"] == {"tpr": 0.5, "fpr": 0.0, "mean_score": 4.0}
    assert report["passed"] is False
    assert len(report["violations"]) == 1
    message = report["violations"][0]
    assert message.startswith("segment: tpr gap 0.50 between 'B'")
    assert "'A'" in message and "exceeds 0.25" in message


def test_it_flags_false_positive_and_mean_score_gaps():
    # Negatives of A score 60 (all predicted positive), of B 10: FPR 1.0 vs 0.0, means 60 vs 10.
    a = _group("A", [60] * 20, [60] * 80)
    b = _group("B", [60] * 20, [10] * 80)
    report = _report(*_combine(a, b))
    assert report["gaps"] == {"tpr": 0.0, "fpr": 1.0, "mean_score": 40.0}
    # A 40-point gap equals the bound and passes; the FPR gap does not.
    assert [v.split(" gap")[0] for v in report["violations"]] == ["segment: fpr"]
    strict = _report(*_combine(a, b), bounds=FairnessBounds(max_mean_score_gap=39.0))
    assert [v.split(" gap")[0] for v in strict["violations"]] == ["segment: fpr", "segment: mean score"]


def test_it_reports_small_groups_without_comparing_them():
    a = _group("A", [70] * 20, [20] * 80)
    b = _group("B", [70] * 20, [20] * 80)
    tiny = _group("tiny", [10] * 5, [90] * 5)  # wildly different, but only 10 rows
    report = _report(*_combine(a, b, tiny))
    rows = _by_name(report)
    assert rows["tiny"]["eligible"] is False
    assert (rows["tiny"]["size"], rows["tiny"]["tpr"], rows["tiny"]["fpr"]) == (10, 0.0, 1.0)
    assert report["gaps"] == {"tpr": 0.0, "fpr": 0.0, "mean_score": 0.0}
    assert report["passed"] is True


def test_it_needs_enough_positives_to_compare_true_positive_rates():
    a = _group("A", [70] * 20, [20] * 80)
    few = _group("few", [10] * 3, [20] * 97)  # large enough, but only 3 positives
    report = _report(*_combine(a, few))
    assert _by_name(report)["few"]["tpr"] == 0.0
    assert report["gaps"]["tpr"] is None
    assert report["gaps"]["fpr"] == 0.0
    assert report["passed"] is True


def test_it_has_no_gaps_with_a_single_eligible_group():
    report = _report(*_combine(_group("only", [70] * 20, [20] * 80)))
    assert report["gaps"] == {"tpr": None, "fpr": None, "mean_score": None}
    assert report["passed"] is True


def test_it_reports_tier_shares_per_group():
    g = _group("A", [90, 85, 60], [55, 20] + [10] * 95)
    row = _report(*_combine(g))["groups"][0]
    assert row["tier_shares"] == pytest.approx({"hot": 0.02, "warm": 0.02, "cold": 0.96})
    assert row["positives"] == 3 and row["size"] == 100


def test_it_returns_plain_json_types():
    rng = np.random.default_rng(5)
    groups = rng.choice(["x", "y", "z"], 600).tolist()
    y = (rng.random(600) < 0.3).astype(np.int8)
    scores = rng.integers(0, 101, 600)
    report = _report(groups, y, scores)
    assert _plain_json(report)
    assert json.loads(json.dumps(report)) == report


def test_it_rejects_mismatched_lengths_and_bad_thresholds():
    with pytest.raises(ValueError, match="differ in length"):
        _report(["a", "b"], [0, 1], [10])
    with pytest.raises(ValueError, match="must be below hot"):
        subgroup_report("s", ["a"], [1], [60], positive_threshold=50, thresholds={"hot": 50, "warm": 60})


def test_it_bands_numbers_with_lower_edges_inclusive():
    values = [29.9, 30, 44.99, 45.0, 59, 60, 75, None, float("nan")]
    assert band_values(values, [30, 45, 60]) == [
        "<30", "30-45", "30-45", "45-60", "45-60", "60+", "60+", "unknown", "unknown",
    ]  # fmt: skip


def test_it_bands_with_custom_labels_and_fractional_edges():
    labels = ["young", "middle", "senior"]
    assert band_values([17, 18, 64.9, 65], [18, 65], labels) == ["young", "middle", "middle", "senior"]
    assert band_values([0.1, 2.5, 3], [2.5]) == ["<2.5", "2.5+", "2.5+"]


def test_it_rejects_bad_band_definitions():
    with pytest.raises(ValueError, match="2 edges need 3 labels"):
        band_values([1], [10, 20], ["a", "b"])
    with pytest.raises(ValueError, match="strictly increasing"):
        band_values([1], [20, 10])
    with pytest.raises(ValueError, match="strictly increasing"):
        band_values([1], [10, 10])
    with pytest.raises(ValueError, match="at least one edge"):
        band_values([1], [])
