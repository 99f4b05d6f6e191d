"""The fields an account row may carry in an upsert, and their validation (pure: no ORM).

Rows come from the CRMs' companies and accounts (``connectors.inbound_accounts`` maps them); a bad
value is a per-row error naming the field and the reason, so an account is written whole or not at
all. The size band is derived from the employee count when the row does not give one.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core import rowcheck as rc
from sales.choices import CompanySizeBand, SourceSystem

KEY_FIELDS = ("source", "external_id")

#: Employee counts above this are refused as implausible (the largest employers have ~2.3 million).
MAX_EMPLOYEES = 10_000_000


def whole_number(value: Any) -> int | None:
    """A count of something: a whole number, given as a number or its text ("250", "250.0")."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise rc.FieldError("must be a whole number")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise rc.FieldError(f"'{value}' is not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise rc.FieldError(f"'{value}' is not a whole number")
    if number < 0 or number > MAX_EMPLOYEES:
        raise rc.FieldError(f"must be between 0 and {MAX_EMPLOYEES:,} ({value})")
    return int(number)


ACCOUNT_FIELDS: dict[str, rc.Parser] = {
    "source": rc.choice(SourceSystem.values),
    "external_id": rc.text(100, required=True),
    "name": rc.text(200, required=True),
    "domain": rc.text(200),
    "industry": rc.text(100),
    "employee_count": whole_number,
    "size_band": rc.choice(["", *CompanySizeBand.values]),
    "annual_revenue": rc.decimal(min_value=Decimal(0)),
    "region": rc.text(50),
    "country": rc.country_code,
    "account_value": rc.decimal(min_value=Decimal(0)),
    "attributes": rc.json_object,
    "source_modified_at": rc.aware_datetime,
}

#: Fields the upsert writes (everything but the natural key).
WRITABLE_FIELDS = tuple(name for name in ACCOUNT_FIELDS if name not in KEY_FIELDS)

#: The upper bound of each size band, smallest first (``CompanySizeBand``).
SIZE_BANDS = (
    (10, CompanySizeBand.TINY),
    (50, CompanySizeBand.SMALL),
    (200, CompanySizeBand.MEDIUM),
    (1000, CompanySizeBand.LARGE),
)


def size_band(employees: int | None) -> str:
    """The company size band of an employee count ("" when unknown)."""
    if employees is None or employees <= 0:
        return ""
    for upper, band in SIZE_BANDS:
        if employees <= upper:
            return str(band)
    return str(CompanySizeBand.ENTERPRISE)


def with_size_band(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` plus the size band its employee count implies, unless it gives one."""
    result = dict(values)
    if "employee_count" in result and "size_band" not in result:
        result["size_band"] = size_band(result["employee_count"])
    return result
