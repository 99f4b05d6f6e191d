"""Deterministic hold-out assignment and the effect interval."""

import pytest

from sales.experiments import CONTROL, TREATMENT, arm_for, effect, wilson


def test_the_same_lead_always_lands_in_the_same_arm():
    arms = [arm_for(playbook_id=3, lead_id=i, control_share=0.2) for i in range(2000)]
    again = [arm_for(playbook_id=3, lead_id=i, control_share=0.2) for i in range(2000)]
    assert arms == again
    share = arms.count(CONTROL) / len(arms)
    assert 0.17 < share < 0.23


def test_a_zero_share_holds_nobody_out_and_playbooks_differ():
    assert {arm_for(playbook_id=1, lead_id=i, control_share=0.0) for i in range(500)} == {TREATMENT}
    one = [arm_for(playbook_id=1, lead_id=i, control_share=0.5) for i in range(500)]
    two = [arm_for(playbook_id=2, lead_id=i, control_share=0.5) for i in range(500)]
    assert one != two


def test_wilson_interval_known_value():
    low, high = wilson(10, 100)
    assert low == pytest.approx(0.0552, abs=1e-4)
    assert high == pytest.approx(0.1744, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_newcombe_difference_matches_the_published_example():
    # Newcombe (1998), example (a): 56/70 vs 48/80 → difference 0.2, 95% CI 0.0524 to 0.3339.
    result = effect(56, 70, 48, 80)
    assert result.difference == pytest.approx(0.2)
    assert result.low == pytest.approx(0.0524, abs=1e-4)
    assert result.high == pytest.approx(0.3339, abs=1e-4)
    assert result.significant


def test_no_difference_is_not_significant():
    result = effect(5, 100, 5, 100)
    assert result.difference == 0
    assert result.low < 0 < result.high
    assert not result.significant


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="control"):
        effect(1, 10, 11, 10)
