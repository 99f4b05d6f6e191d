"""Lead file formats: each parser turns a file into lead rows (plain dicts, the API's shape)."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sales.importers.bank_marketing import parse_bank_marketing

LeadParser = Callable[[Path], Iterator[tuple[int, dict[str, Any]]]]

LEAD_FORMATS: dict[str, LeadParser] = {
    "bank-marketing": parse_bank_marketing,
}
