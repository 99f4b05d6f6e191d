"""Cells for CSV files that people open in a spreadsheet (pure: no ORM).

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (and a tab or carriage return first can smuggle one in), so a value that an agent, a
webhook or a contact wrote (a lead's external id, a decision comment) could make an operator's
spreadsheet fetch a URL with the sheet's data or start a program. Every CSV writer passes its cells
through ``safe_cell``: such text gets a leading ``'``, which spreadsheets show as text and do not
evaluate. JSON exports need nothing: nobody's spreadsheet evaluates them.

Numbers stored as numbers (``int``, ``float``, ``Decimal``) are left alone, negative ones included:
they are written as digits and read back as the same number. Text is text even when it looks like a
number: a user field holding ``-5`` or ``+44 20 7946 0123`` comes out as ``'-5``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

# OWASP's list: the formula starters, and tab and carriage return, which some importers drop first.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"

K = TypeVar("K")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet evaluates: text starting with a formula character,
    also after leading whitespace, gets a leading ``'``; anything else is returned unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(FORMULA_STARTS) or value.lstrip().startswith(FORMULA_STARTS):
        return QUOTE + value
    return value


def safe_row(row: Mapping[K, Any] | Iterable[Any]) -> Any:
    """Every cell of ``row`` through ``safe_cell``: a dict for a mapping (``csv.DictWriter``), else a list."""
    if isinstance(row, Mapping):
        return {key: safe_cell(value) for key, value in row.items()}
    return [safe_cell(value) for value in row]


__all__ = ["FORMULA_STARTS", "safe_cell", "safe_row"]
