"""The BANKING77 file (``text,category``) as ticket rows with a known intent label.

The rows are historical, labelled queries: they come in as solved chat tickets, which is what
intent-model training and evaluation read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.rowcheck import FormatError

__all__ = ["FormatError", "parse_banking77"]

SUBJECT_LENGTH = 80


def parse_banking77(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, ticket_row)`` for each data line of a BANKING77 CSV."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"text", "category"} <= set(reader.fieldnames):
            raise FormatError(
                f"{path.name}: not a BANKING77 file; expected columns text,category, "
                f"found {reader.fieldnames}"
            )
        for position, raw in enumerate(reader, start=1):
            text = (raw.get("text") or "").strip()
            subject = text if len(text) <= SUBJECT_LENGTH else text[: SUBJECT_LENGTH - 1] + "…"
            yield (
                position + 1,
                {
                    "source": "banking77",
                    "external_id": f"b77-{position:05d}",
                    "subject": subject,
                    "body": text,
                    "status": "solved",
                    "channel": "chat",
                    "intent_label": (raw.get("category") or "").strip(),
                },
            )
