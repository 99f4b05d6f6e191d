import pytest

from scoring.charts import BAR_HEIGHT, CHART_WIDTH, LABEL_WIDTH, ROW_HEIGHT, shap_bar_chart

MINUS = "\u2212"

# With LABEL_WIDTH 250 and CHART_WIDTH 380: the axis sits at 250 + 190 = 440 and the largest bar is
# 380 / 2 - 80 = 110 wide, leaving 80 units for the value text beside it.
AXIS = 440.0
HALF = 110.0

REASONS = [
    {"feature": "age", "points": 10.0, "text": "Age 56: +10 points"},
    {"feature": "job", "points": -5.0, "text": f"Job admin.: {MINUS}5 points"},
    {"feature": "visits", "points": 2.5, "text": "Pricing visits 3: +2.5 points"},
]


def test_it_uses_the_documented_layout_constants():
    assert (LABEL_WIDTH, CHART_WIDTH, ROW_HEIGHT, BAR_HEIGHT) == (250, 380, 28, 18)


def test_it_draws_the_chart_frame():
    chart = shap_bar_chart(REASONS)
    assert chart.axis_x == AXIS
    assert chart.width == 630
    assert chart.height == 3 * 28 + 8


def test_it_starts_positive_bars_at_the_axis_and_extends_them_right():
    bar = shap_bar_chart(REASONS).bars[0]
    assert bar.positive is True
    assert bar.x == AXIS
    assert bar.width == pytest.approx(HALF)
    assert bar.text_x == pytest.approx(AXIS + HALF + 4)
    assert bar.anchor == "start"


def test_it_ends_negative_bars_at_the_axis():
    bar = shap_bar_chart(REASONS).bars[1]
    assert bar.positive is False
    assert bar.width == pytest.approx(55.0)
    assert bar.x == pytest.approx(AXIS - 55.0)
    assert bar.x + bar.width == pytest.approx(AXIS)
    assert bar.text_x == pytest.approx(AXIS - 55.0 - 4)
    assert bar.anchor == "end"


def test_it_scales_widths_to_the_largest_absolute_points():
    bars = shap_bar_chart(REASONS).bars
    assert [b.width for b in bars] == pytest.approx([110.0, 55.0, 27.5])
    assert [b.points for b in bars] == [10.0, -5.0, 2.5]


def test_it_scales_to_a_negative_largest_reason_too():
    bars = shap_bar_chart(
        [{"points": -8.0, "text": f"A: {MINUS}8 points"}, {"points": 2.0, "text": "B: +2 points"}]
    ).bars
    assert [b.width for b in bars] == pytest.approx([110.0, 27.5])
    assert bars[0].x == pytest.approx(AXIS - 110.0)
    assert bars[1].x == AXIS


def test_it_places_one_row_per_reason():
    bars = shap_bar_chart(REASONS).bars
    assert [b.y for b in bars] == [6, 34, 62]
    assert bars[1].y - bars[0].y == ROW_HEIGHT


def test_it_splits_label_and_value_at_the_last_colon():
    bars = shap_bar_chart(
        [*REASONS, {"points": 1.0, "text": "Time: on site 5 min: +1 point"}],
    ).bars
    assert [(b.label, b.value) for b in bars] == [
        ("Age 56", "+10 points"),
        ("Job admin.", f"{MINUS}5 points"),
        ("Pricing visits 3", "+2.5 points"),
        ("Time: on site 5 min", "+1 point"),
    ]


def test_it_uses_the_points_as_the_value_when_the_text_has_no_colon():
    (bar,) = shap_bar_chart([{"points": -2.0, "text": "Job admin."}]).bars
    assert (bar.label, bar.value) == ("Job admin.", "-2.0")


def test_it_draws_no_bars_for_no_reasons_but_keeps_a_positive_height():
    chart = shap_bar_chart([])
    assert chart.bars == []
    assert chart.height == 28 + 8
    assert chart.height > 0
    assert chart.axis_x == AXIS


def test_it_handles_all_zero_points_without_dividing_by_zero():
    bars = shap_bar_chart(
        [{"points": 0.0, "text": "A 1: +0.0 points"}, {"points": 0, "text": "B 2: +0.0 points"}]
    ).bars
    assert [b.width for b in bars] == [1.0, 1.0]
    assert all(b.positive and b.x == AXIS for b in bars)


def test_it_gives_a_tiny_bar_a_visible_minimum_width():
    bars = shap_bar_chart(
        [{"points": 100.0, "text": "A: +100 points"}, {"points": 0.1, "text": "B: +0.1 points"}]
    ).bars
    assert bars[0].width == pytest.approx(HALF)
    assert bars[1].width == 1.0


def test_it_accepts_points_given_as_strings_of_numbers():
    (bar,) = shap_bar_chart([{"points": "-3.5", "text": f"A: {MINUS}4 points"}]).bars
    assert bar.points == -3.5
    assert bar.width == pytest.approx(HALF)
    assert bar.positive is False
