"""Unit tests for sales.importers.bank_marketing.parse_bank_marketing (file parsing only, no database)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sales.importers.bank_marketing import FormatError, parse_bank_marketing

HEADER = (
    '"age";"job";"marital";"education";"default";"housing";"loan";"contact";"month";"day_of_week";'
    '"duration";"campaign";"pdays";"previous";"poutcome";"emp.var.rate";"cons.price.idx";'
    '"cons.conf.idx";"euribor3m";"nr.employed";"y"'
)


def data_line(month: str = "may", y: str = "no", age: str = "56") -> str:
    return (
        f'{age};"housemaid";"married";"basic.4y";"no";"no";"no";"telephone";"{month}";"mon";261;1;999;0;'
        f'"nonexistent";1.1;93.994;-36.4;4.857;5191;"{y}"'
    )


def write_csv(tmp_path: Path, *lines: str, name: str = "bank.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def parse(path: Path) -> list[tuple[int, dict]]:
    return list(parse_bank_marketing(path))


def test_the_synthetic_header_matches_the_real_fixture(fixtures_dir):
    real = (fixtures_dir / "bank-marketing" / "bank-additional-train.csv").read_text(encoding="utf-8-sig")
    assert real.splitlines()[0] == HEADER


def test_external_ids_number_the_data_rows_from_one_with_five_digits(tmp_path):
    path = write_csv(tmp_path, data_line(), data_line(), data_line())
    assert [row["external_id"] for _, row in parse(path)] == ["bm-00001", "bm-00002", "bm-00003"]


def test_line_numbers_count_the_header_as_line_one(tmp_path):
    path = write_csv(tmp_path, data_line(), data_line())
    assert [line for line, _ in parse(path)] == [2, 3]


def test_a_row_has_the_fixed_source_country_and_time_zone(tmp_path):
    ((_, row),) = parse(write_csv(tmp_path, data_line()))
    assert row["source"] == "bank-marketing"
    assert row["country"] == "PT"
    assert row["timezone"] == "Europe/Lisbon"


def test_numeric_columns_are_parsed_and_dotted_names_use_underscores(tmp_path):
    ((_, row),) = parse(write_csv(tmp_path, data_line()))
    attributes = row["attributes"]
    # integer columns
    for column, value in {"age": 56, "duration": 261, "campaign": 1, "pdays": 999, "previous": 0}.items():
        assert attributes[column] == value
        assert type(attributes[column]) is int
    # float columns, renamed
    for column, value in {
        "emp_var_rate": 1.1,
        "cons_price_idx": 93.994,
        "cons_conf_idx": -36.4,
        "euribor3m": 4.857,
        "nr_employed": 5191.0,
    }.items():
        assert attributes[column] == pytest.approx(value)
        assert type(attributes[column]) is float
    for dotted in ("emp.var.rate", "cons.price.idx", "cons.conf.idx", "nr.employed"):
        assert dotted not in attributes


def test_text_columns_are_kept_as_text_and_the_outcome_column_is_not_an_attribute(tmp_path):
    ((_, row),) = parse(write_csv(tmp_path, data_line()))
    attributes = row["attributes"]
    assert attributes["job"] == "housemaid"
    assert attributes["education"] == "basic.4y"
    assert attributes["month"] == "may"
    assert attributes["day_of_week"] == "mon"
    assert "y" not in attributes


def test_attributes_record_the_file_row(tmp_path):
    rows = parse(write_csv(tmp_path, data_line(), data_line()))
    assert [row["attributes"]["file_row"] for _, row in rows] == [1, 2]


def test_an_unparseable_number_is_kept_as_text_rather_than_crashing(tmp_path):
    ((_, row),) = parse(write_csv(tmp_path, data_line(age="unknown")))
    assert row["attributes"]["age"] == "unknown"


def test_yes_means_converted_outcome_and_converted_status(tmp_path):
    ((_, row),) = parse(write_csv(tmp_path, data_line(y="yes")))
    assert row["outcome"] == "converted"
    assert row["status"] == "converted"
    assert row["outcome_at"] == "2008-05-01T00:00:00+00:00"


def test_no_means_not_converted_and_contacted(tmp_path):
    ((_, row),) = parse(write_csv(tmp_path, data_line(y="no")))
    assert row["outcome"] == "not_converted"
    assert row["status"] == "contacted"
    assert row["outcome_at"] == "2008-05-01T00:00:00+00:00"


def test_the_first_row_is_dated_may_2008(tmp_path):
    ((_, row),) = parse(write_csv(tmp_path, data_line(month="may")))
    assert row["attributes"]["contact_period"] == "2008-05"


def test_months_moving_forward_stay_in_the_same_year(tmp_path):
    rows = parse(write_csv(tmp_path, data_line(month="may"), data_line(month="may"), data_line(month="jul")))
    assert [row["attributes"]["contact_period"] for _, row in rows] == ["2008-05", "2008-05", "2008-07"]


def test_a_month_going_backwards_moves_to_the_next_year(tmp_path):
    # given December followed by March
    rows = parse(
        write_csv(
            tmp_path,
            data_line(month="may"),
            data_line(month="dec"),
            data_line(month="mar", y="yes"),
            data_line(month="apr"),
        )
    )
    # then March is in the following year, and so is everything after it
    assert [row["attributes"]["contact_period"] for _, row in rows] == [
        "2008-05",
        "2008-12",
        "2009-03",
        "2009-04",
    ]
    assert rows[2][1]["outcome_at"] == "2009-03-01T00:00:00+00:00"


def test_each_backwards_step_adds_one_more_year(tmp_path):
    rows = parse(
        write_csv(
            tmp_path,
            data_line(month="nov"),
            data_line(month="mar"),
            data_line(month="aug"),
            data_line(month="jan"),
        )
    )
    assert [row["attributes"]["contact_period"] for _, row in rows] == [
        "2008-11",
        "2009-03",
        "2009-08",
        "2010-01",
    ]


def test_a_file_with_wrong_columns_raises_format_error_naming_the_file(tmp_path):
    path = tmp_path / "leads-export.csv"
    path.write_text('"name";"email"\n"Ana";"ana@example.com"\n', encoding="utf-8")
    with pytest.raises(FormatError, match="leads-export.csv"):
        parse(path)


def test_a_comma_separated_file_raises_format_error(tmp_path):
    path = tmp_path / "comma.csv"
    path.write_text(HEADER.replace(";", ",") + "\n" + data_line().replace(";", ",") + "\n", encoding="utf-8")
    with pytest.raises(FormatError, match="comma.csv: not a Bank Marketing file"):
        parse(path)


def test_an_empty_file_raises_format_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(FormatError, match="empty.csv"):
        parse(path)


def test_a_byte_order_mark_before_the_header_is_ignored(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text(HEADER + "\n" + data_line() + "\n", encoding="utf-8-sig")
    ((_, row),) = parse(path)
    assert row["attributes"]["age"] == 56


# --- the real fixture ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_file() -> Path:
    return Path(__file__).resolve().parents[2] / "fixtures" / "bank-marketing" / "bank-additional-train.csv"


@pytest.fixture(scope="module")
def real_rows(real_file) -> list[tuple[int, dict]]:
    return list(parse_bank_marketing(real_file))


def test_the_real_file_has_32950_rows_with_unique_external_ids(real_rows):
    assert len(real_rows) == 32_950
    external_ids = [row["external_id"] for _, row in real_rows]
    assert len(set(external_ids)) == 32_950
    assert external_ids[0] == "bm-00001"
    assert external_ids[-1] == "bm-32950"
    assert real_rows[-1][0] == 32_951


def test_the_real_file_spans_may_2008_to_may_2009(real_rows):
    assert real_rows[0][1]["attributes"]["contact_period"] == "2008-05"
    assert real_rows[-1][1]["attributes"]["contact_period"] == "2009-05"


def test_the_real_files_conversions_match_the_yes_answers_in_its_y_column(real_file, real_rows):
    with real_file.open(newline="", encoding="utf-8-sig") as handle:
        yes_count = sum(1 for record in csv.DictReader(handle, delimiter=";") if record["y"] == "yes")
    assert yes_count > 0
    assert sum(1 for _, row in real_rows if row["outcome"] == "converted") == yes_count
    assert sum(1 for _, row in real_rows if row["status"] == "converted") == yes_count
    assert sum(1 for _, row in real_rows if row["outcome"] == "not_converted") == len(real_rows) - yes_count
