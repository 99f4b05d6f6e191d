"""Ticket file formats: each parser turns a file into ticket rows (plain dicts, the API's shape)."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from support.importers.banking77 import parse_banking77

TicketParser = Callable[[Path], Iterator[tuple[int, dict[str, Any]]]]

TICKET_FORMATS: dict[str, TicketParser] = {
    "banking77": parse_banking77,
}
