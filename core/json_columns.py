"""JSON columns read as text and decoded here, many at once. Pure: no ORM.

A bulk load casts a JSON column to text (``Cast(..., TextField())``) and decodes the texts itself:
Django's per-row JSON converter costs more than everything else in the load, and one orjson call
over the whole batch beats one per row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson


def object_from_text(text: str | None) -> dict[str, Any]:
    """The JSON object ``text`` holds; {} for an empty text or a value that is not an object."""
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = json.loads(text)  # e.g. integers beyond 64 bits, which orjson refuses
    return value if isinstance(value, dict) else {}


def objects_from_texts(texts: Sequence[str | None]) -> list[dict[str, Any]]:
    """Decode many JSON objects in one call (one parse beats one per row); non-objects become {}."""
    try:
        parsed = orjson.loads("[" + ",".join(t or "{}" for t in texts) + "]")
    except orjson.JSONDecodeError:
        parsed = [object_from_text(t) for t in texts]
    return [v if type(v) is dict else {} for v in parsed]
