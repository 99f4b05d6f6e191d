import json

from scoring.gate import (
    GateCheck,
    GatePolicy,
    GateResult,
    check_auc,
    check_fairness,
    check_label_skew,
    check_leakage,
    evaluate_gate,
)

POLICY = GatePolicy(
    min_auc=0.6, min_auc_margin=0.0, leakage_auc=0.95, max_label_ratio=3.0, min_positive_rate=0.005
)


# --- leakage ----------------------------------------------------------------------------------------------


def test_it_passes_leakage_naming_the_strongest_single_feature():
    leakage = [
        {"feature": "age", "auc": 0.72},
        {"feature": "job", "auc": 0.81},
        {"feature": "empty", "auc": None},
    ]
    check = check_leakage(leakage, POLICY)
    assert check == GateCheck("leakage", True, "strongest single feature 'job' AUC 0.810 (limit 0.95)")


def test_it_passes_leakage_with_no_features():
    assert check_leakage([], POLICY) == GateCheck("leakage", True, "no features (limit 0.95)")
    assert check_leakage([{"feature": "x", "auc": None}], POLICY).detail == "no features (limit 0.95)"


def test_it_blocks_a_feature_that_alone_predicts_the_label():
    check = check_leakage([{"feature": "age", "auc": 0.7}, {"feature": "duration", "auc": 0.973}], POLICY)
    assert check.name == "leakage"
    assert check.passed is False
    assert check.detail == "'duration' alone ranks the label with AUC 0.973"


def test_it_blocks_a_feature_exactly_at_the_leakage_limit():
    check = check_leakage([{"feature": "duration", "auc": 0.95}], POLICY)
    assert check.passed is False
    assert "'duration'" in check.detail
    assert "0.950" in check.detail


def test_it_lets_a_feature_just_below_the_leakage_limit_pass():
    assert check_leakage([{"feature": "duration", "auc": 0.949}], POLICY).passed is True


def test_it_blocks_a_feature_known_after_the_outcome_even_with_a_low_auc():
    check = check_leakage([{"feature": "refund_issued", "auc": 0.51, "known_after_outcome": True}], POLICY)
    assert check.passed is False
    assert check.detail == "'refund_issued' is only known after the outcome"


def test_it_lists_every_leakage_problem():
    leakage = [
        {"feature": "refund_issued", "auc": None, "known_after_outcome": True},
        {"feature": "age", "auc": 0.6},
        {"feature": "duration", "auc": 0.99},
    ]
    check = check_leakage(leakage, POLICY)
    assert check.detail == (
        "'refund_issued' is only known after the outcome; 'duration' alone ranks the label with AUC 0.990"
    )


def test_it_uses_the_policys_leakage_limit():
    strict = GatePolicy(leakage_auc=0.8)
    assert check_leakage([{"feature": "job", "auc": 0.85}], strict).passed is False
    assert check_leakage([{"feature": "job", "auc": 0.85}], POLICY).passed is True


# --- label skew -------------------------------------------------------------------------------------------


def test_it_passes_a_small_shift_in_the_positive_rate():
    check = check_label_skew(0.2, 0.25, POLICY)
    assert check == GateCheck(
        "label skew", True, "positive rate 0.200 in training vs 0.250 in the hold-out (1.25×; limit 3×)"
    )


def test_it_passes_a_ratio_exactly_at_the_limit():
    check = check_label_skew(0.25, 0.75, POLICY)  # 0.75 / 0.25 = 3
    assert check.passed is True
    assert "(3.00×; limit 3×)" in check.detail


def test_it_fails_a_large_ratio_in_either_direction():
    up = check_label_skew(0.1, 0.35, POLICY)
    assert up.passed is False
    assert "0.100" in up.detail
    assert "0.350" in up.detail
    assert "3.50×" in up.detail
    down = check_label_skew(0.4, 0.1, POLICY)
    assert down.passed is False
    assert "4.00×" in down.detail


def test_it_uses_the_policys_label_ratio_limit():
    loose = GatePolicy(max_label_ratio=5.0, min_positive_rate=0.005)
    assert check_label_skew(0.4, 0.1, loose).passed is True
    assert "limit 5×" in check_label_skew(0.4, 0.1, loose).detail


def test_it_fails_a_single_class_training_set():
    assert check_label_skew(0.0, 0.2, POLICY) == GateCheck(
        "label skew", False, "training positive rate 0.0000 is outside [0.005, 0.995]"
    )
    assert check_label_skew(1.0, 0.2, POLICY) == GateCheck(
        "label skew", False, "training positive rate 1.0000 is outside [0.005, 0.995]"
    )


def test_it_fails_a_single_class_hold_out():
    assert check_label_skew(0.2, 0.0, POLICY) == GateCheck(
        "label skew", False, "hold-out positive rate 0.0000 is outside [0.005, 0.995]"
    )
    assert check_label_skew(0.2, 1.0, POLICY) == GateCheck(
        "label skew", False, "hold-out positive rate 1.0000 is outside [0.005, 0.995]"
    )


def test_it_fails_a_positive_rate_below_the_minimum_and_passes_one_at_it():
    rare = check_label_skew(0.004, 0.004, POLICY)
    assert rare.passed is False
    assert "training positive rate 0.0040" in rare.detail
    assert check_label_skew(0.005, 0.005, POLICY).passed is True
    assert check_label_skew(0.995, 0.995, POLICY).passed is True
    assert check_label_skew(0.2, 0.996, POLICY).passed is False


def test_it_reports_the_training_rate_first_when_both_are_unusable():
    assert check_label_skew(0.0, 1.0, POLICY).detail.startswith("training positive rate 0.0000")


def test_it_fails_single_class_labels_even_when_the_minimum_positive_rate_is_zero():
    # ScoringPolicy.min_positive_rate is an admin-editable FloatField without validators; 0 must still
    # reject a single-class set (not crash with ZeroDivisionError, nor pass 1.0 vs 1.0).
    lax = GatePolicy(min_positive_rate=0.0)
    assert check_label_skew(0.0, 0.2, lax).passed is False
    assert check_label_skew(0.2, 0.0, lax).passed is False
    assert check_label_skew(1.0, 1.0, lax).passed is False


# --- auc --------------------------------------------------------------------------------------------------


def test_it_fails_without_a_hold_out_auc():
    assert check_auc(None, 0.8, POLICY) == GateCheck("auc", False, "no hold-out AUC (single-class hold-out)")


def test_it_fails_an_auc_below_the_floor_even_without_a_champion():
    check = check_auc(0.55, None, POLICY)
    assert check == GateCheck("auc", False, "hold-out AUC 0.5500 is below the floor 0.6")


def test_it_passes_an_auc_exactly_at_the_floor():
    assert check_auc(0.6, None, POLICY).passed is True


def test_it_passes_when_there_is_no_champion():
    check = check_auc(0.7123, None, POLICY)
    assert check == GateCheck("auc", True, "hold-out AUC 0.7123; no champion to compare with")


def test_it_fails_a_candidate_below_the_champion_minus_the_margin():
    policy = GatePolicy(min_auc_margin=0.05)
    check = check_auc(0.74, 0.8, policy)
    assert check.passed is False
    assert check.detail == "hold-out AUC 0.7400 vs champion 0.8000 on the same rows (needs ≥ 0.7500)"


def test_it_passes_a_candidate_within_the_margin_of_the_champion():
    policy = GatePolicy(min_auc_margin=0.05)
    assert check_auc(0.76, 0.8, policy).passed is True
    assert check_auc(0.75, 0.8, policy).passed is True


def test_it_passes_a_candidate_equal_to_the_champion_and_fails_one_just_below():
    assert check_auc(0.8, 0.8, POLICY).passed is True
    below = check_auc(0.7999, 0.8, POLICY)
    assert below.passed is False
    assert "needs ≥ 0.8000" in below.detail


def test_it_checks_the_floor_before_the_champion():
    check = check_auc(0.58, 0.5, POLICY)
    assert check.passed is False
    assert "below the floor 0.6" in check.detail


# --- fairness ---------------------------------------------------------------------------------------------


def test_it_passes_fairness_naming_the_attributes_checked():
    reports = [{"attribute": "age_band", "violations": []}, {"attribute": "region"}]
    assert check_fairness(reports) == GateCheck("fairness", True, "gaps within bounds for age_band, region")


def test_it_passes_fairness_with_no_subgroups():
    assert check_fairness([]) == GateCheck("fairness", True, "gaps within bounds for no subgroups configured")


def test_it_fails_fairness_joining_every_violation():
    reports = [
        {"attribute": "age_band", "violations": ["age_band 60+: tpr gap 0.31 > 0.20", "age_band 18-25: n 3"]},
        {"attribute": "region", "violations": []},
        {"attribute": "gender", "violations": ["gender f: ppr gap 0.25 > 0.20"]},
    ]
    check = check_fairness(reports)
    assert check.passed is False
    assert check.detail == (
        "age_band 60+: tpr gap 0.31 > 0.20; age_band 18-25: n 3; gender f: ppr gap 0.25 > 0.20"
    )


# --- evaluate_gate ----------------------------------------------------------------------------------------

GOOD = {
    "policy": POLICY,
    "candidate_auc": 0.8,
    "champion_auc": 0.78,
    "leakage": [{"feature": "age", "auc": 0.7}],
    "train_rate": 0.2,
    "validation_rate": 0.22,
    "fairness_reports": [{"attribute": "age_band", "violations": []}],
}


def test_it_passes_the_gate_when_every_check_passes():
    result = evaluate_gate(**GOOD)
    assert [c.name for c in result.checks] == ["leakage", "label skew", "auc", "fairness"]
    assert all(c.passed for c in result.checks)
    assert result.passed is True
    assert result.failures == []


def test_it_fails_the_gate_when_any_single_check_fails():
    for override in (
        {"leakage": [{"feature": "duration", "auc": 0.99}]},
        {"validation_rate": 0.0},
        {"candidate_auc": 0.7},
        {"fairness_reports": [{"attribute": "age_band", "violations": ["gap"]}]},
    ):
        result = evaluate_gate(**{**GOOD, **override})
        assert result.passed is False, override
        assert len(result.failures) == 1, override


def test_it_lists_failures_as_name_and_detail():
    result = evaluate_gate(
        **{
            **GOOD,
            "candidate_auc": 0.5,
            "fairness_reports": [{"attribute": "region", "violations": ["a", "b"]}],
        }
    )
    assert result.failures == ["auc: hold-out AUC 0.5000 is below the floor 0.6", "fairness: a; b"]


def test_it_serialises_the_result_as_json():
    result = evaluate_gate(**{**GOOD, "candidate_auc": None})
    data = json.loads(json.dumps(result.as_dict()))
    assert data["passed"] is False
    assert [c["name"] for c in data["checks"]] == ["leakage", "label skew", "auc", "fairness"]
    assert [c["passed"] for c in data["checks"]] == [True, True, False, True]
    assert data["checks"][2] == {
        "name": "auc",
        "passed": False,
        "detail": "no hold-out AUC (single-class hold-out)",
    }


def test_it_passes_an_empty_result():
    assert GateResult().passed is True
    assert GateResult().failures == []
    assert GateResult().as_dict() == {"passed": True, "checks": []}
