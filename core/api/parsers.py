"""Request body parsing for the API: JSON that cannot crash the server.

Python's JSON decoder recurses once per nesting level, so ``[[[[…]]]]`` a hundred thousand deep
raises ``RecursionError`` — not a ``ValueError`` — and DRF's parser turned it into a 500. Any
body that deep is an attack or a bug; it gets the same 400 as malformed JSON.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 instead of 500 for JSON nested too deeply to decode."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
