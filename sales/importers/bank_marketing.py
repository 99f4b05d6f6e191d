"""The UCI Bank Marketing file (bank-additional*.csv) as lead rows.

The file has no ids and no years: a row's external id is its position in the file (the file is
the data set's published order, by date), and the year of the ``month`` column is derived from
that order, starting in May 2008 and moving to the next year when the month goes backwards.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.rowcheck import FormatError

__all__ = ["FormatError", "parse_bank_marketing"]

FIRST_YEAR = 2008
MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
INTEGER_COLUMNS = {"age", "duration", "campaign", "pdays", "previous"}
FLOAT_COLUMNS = {"emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed"}
# Column names as attribute keys: dots become underscores so they read well in feature specs.
RENAMES = {c: c.replace(".", "_") for c in FLOAT_COLUMNS}
OUTCOME_COLUMN = "y"


def _number(column: str, raw: str) -> int | float | str:
    try:
        return int(raw) if column in INTEGER_COLUMNS else float(raw)
    except ValueError:
        return raw  # left as text: the row validator or feature spec reports it, not a crash here


def parse_bank_marketing(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, lead_row)`` for each data line of a Bank Marketing CSV."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=";")
        expected = {"age", "job", "month", OUTCOME_COLUMN}
        if not reader.fieldnames or not expected <= set(reader.fieldnames):
            raise FormatError(
                f"{path.name}: not a Bank Marketing file; expected ';'-separated columns including "
                f"{sorted(expected)}, found {reader.fieldnames}"
            )
        year, last_month = FIRST_YEAR, None
        for position, raw in enumerate(reader, start=1):
            month = MONTHS.get((raw.get("month") or "").strip().lower())
            if month is not None:
                if last_month is not None and month < last_month:
                    year += 1
                last_month = month
            attributes: dict[str, Any] = {}
            for column, value in raw.items():
                if column == OUTCOME_COLUMN or column is None:
                    continue
                value = (value or "").strip()
                key = RENAMES.get(column, column)
                attributes[key] = (
                    _number(column, value) if column in INTEGER_COLUMNS | FLOAT_COLUMNS else value
                )
            attributes["file_row"] = position
            contacted = datetime(year, month, 1, tzinfo=UTC) if month else None
            if contacted:
                attributes["contact_period"] = f"{year:04d}-{month:02d}"
            subscribed = (raw.get(OUTCOME_COLUMN) or "").strip().lower()
            row: dict[str, Any] = {
                "source": "bank-marketing",
                "external_id": f"bm-{position:05d}",
                "country": "PT",
                "timezone": "Europe/Lisbon",
                "status": "converted" if subscribed == "yes" else "contacted",
                "attributes": attributes,
            }
            if subscribed in ("yes", "no"):
                row["outcome"] = "converted" if subscribed == "yes" else "not_converted"
                row["outcome_at"] = contacted.isoformat() if contacted else None
            else:
                row["outcome"] = subscribed  # invalid: reported by the row validator with its reason
            # position + 1: the header is line 1 of the file.
            yield position + 1, row
