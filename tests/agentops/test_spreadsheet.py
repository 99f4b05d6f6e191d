"""Cells of a CSV export are data, never formulas: text a spreadsheet would run is prefixed with '."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from core.spreadsheet import safe_cell, safe_row

# What Excel, LibreOffice and Google Sheets start a formula (or a DDE call) with.
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("first", TRIGGERS)
def test_it_prefixes_text_that_starts_with_a_formula_character(first):
    assert (
        safe_cell(f'{first}HYPERLINK("http://evil.example")') == f'\'{first}HYPERLINK("http://evil.example")'
    )


@pytest.mark.parametrize("first", ("=", "+", "-", "@"))
@pytest.mark.parametrize("blank", (" ", "  ", "\n", " \n ", "\u00a0"))
def test_it_prefixes_a_formula_character_after_leading_whitespace(first, blank):
    value = f"{blank}{first}cmd|' /C calc'!A0"
    assert safe_cell(value) == f"'{value}"


@pytest.mark.parametrize(
    "value",
    ["", "Ada Lovelace", "ada@example.com", "a=b", "x-1", "'already quoted", '{"steps": 3}', "  plain"],
)
def test_it_leaves_other_text_alone(value):
    assert safe_cell(value) == value


def test_text_that_looks_like_a_negative_number_is_neutralised_because_it_is_text():
    # A user field holding "-5" is still user text; only values stored as numbers stay numbers.
    assert safe_cell("-5") == "'-5"
    assert safe_cell("+44 20 7946 0123") == "'+44 20 7946 0123"


@pytest.mark.parametrize("number", [-5, -0.25, Decimal("-3.10"), 0, 12, 1.5])
def test_it_leaves_numbers_as_numbers(number):
    assert safe_cell(number) is number


@pytest.mark.parametrize("value", [None, True, False])
def test_it_leaves_none_and_booleans_alone(value):
    assert safe_cell(value) is value


def test_safe_row_neutralises_every_cell_of_a_list_and_of_a_mapping():
    assert safe_row(["=1+1", -1, "ok"]) == ["'=1+1", -1, "ok"]
    assert safe_row({"a": "@SUM(A1)", "b": 2}) == {"a": "'@SUM(A1)", "b": 2}


def test_a_written_and_read_back_row_holds_no_formula():
    buffer = io.StringIO()
    csv.writer(buffer).writerow(safe_row(['=HYPERLINK("http://x")', "-2+3", -2]))
    cells = next(csv.reader(io.StringIO(buffer.getvalue())))
    assert cells == ['\'=HYPERLINK("http://x")', "'-2+3", "-2"]
    assert not any(cell[:1] in "=+@" for cell in cells)
