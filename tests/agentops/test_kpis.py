"""KPI maths: robust z-scores, anomaly flags, SLO budgets, sparkline geometry."""

from datetime import date, timedelta

import pytest

from core.kpis import Day, flag_anomalies, robust_z, slo_budget, sparkline

START = date(2026, 11, 1)


def days(values, n=100):
    return [Day(START + timedelta(days=i), v * n, n) for i, v in enumerate(values)]


def test_robust_z_uses_median_and_mad():
    history = [0.10, 0.11, 0.09, 0.10, 0.12, 0.10, 0.08]
    # median 0.10, MAD 0.01 → sigma 0.014826
    assert robust_z(history, 0.10) == 0
    assert robust_z(history, 0.16) == pytest.approx(0.06 / 0.014826, rel=1e-3)
    assert robust_z(history[:4], 0.5) is None


def test_a_flat_history_makes_any_change_infinitely_unusual():
    assert robust_z([0.2] * 6, 0.2) == 0
    assert robust_z([0.2] * 6, 0.3) == float("inf")


def test_a_sudden_drop_is_flagged_and_normal_noise_is_not():
    series = [0.10, 0.11, 0.09, 0.10, 0.12, 0.10, 0.08, 0.11, 0.10, 0.02, 0.10]
    points = flag_anomalies(days(series))
    assert [p.day for p in points if p.anomaly] == [START + timedelta(days=9)]
    assert points[9].z < -3.5


def test_days_with_too_little_data_are_not_judged_or_used():
    series = [*days([0.1] * 6), Day(START + timedelta(days=6), 1, 2)]
    points = flag_anomalies(series, min_count=5)
    assert points[-1].value is None and not points[-1].anomaly


def test_slo_budget_burn():
    budget = slo_budget(good=980, total=1000, objective=0.95)
    assert budget.attainment == 0.98
    assert budget.burn_rate == pytest.approx(0.4)
    assert budget.budget_left == pytest.approx(0.6)
    assert budget.met
    over = slo_budget(good=900, total=1000, objective=0.95)
    assert over.burn_rate == pytest.approx(2.0) and over.budget_left == pytest.approx(-1.0) and not over.met
    assert slo_budget(good=0, total=0, objective=0.9).attainment is None
    with pytest.raises(ValueError, match="objective"):
        slo_budget(good=1, total=1, objective=1)


def test_sparkline_spans_the_box_and_marks_anomalies():
    points = flag_anomalies(days([0.10, 0.11, 0.09, 0.10, 0.12, 0.10, 0.02]))
    spark = sparkline(points, width=100, height=20, pad=0)
    coords = [tuple(map(float, c.split(","))) for c in spark.points.split()]
    assert coords[0][0] == 0 and coords[-1][0] == 100
    assert min(y for _, y in coords) == 0 and max(y for _, y in coords) == 20
    assert spark.dots == [coords[-1]]
    assert sparkline([]).points == ""
