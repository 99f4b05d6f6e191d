"""Reading the customer's answer to the bot's diagnostic questions, pure (no ORM).

The questions fragment asks for named facts (``Article.diagnostics``, e.g. ``card_last4``). The
answer is free text, so each fact has a reader that takes only what it can be sure of, and a
labelled line (``card_last4: 1234``) is read for any fact. A fact that cannot be read stays
missing, and the bot's second pass then hands the ticket off instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# A card number (13–19 digits, spaced or not) must never be kept, only its last four digits.
_CARD_NUMBER = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_FOUR_DIGITS = re.compile(r"(?<![\d-])(\d{4})(?![\d-])")


def _card_last4(text: str) -> str:
    """The last four digits of a card: a whole card number gives its last four; otherwise exactly
    one group of four digits (two groups are ambiguous: nothing is read)."""
    numbers = _CARD_NUMBER.findall(text)
    if numbers:
        return re.sub(r"\D", "", numbers[-1])[-4:]
    groups = set(_FOUR_DIGITS.findall(text))
    return groups.pop() if len(groups) == 1 else ""


#: Readers for facts whose answer has a known shape; other facts need a labelled line.
READERS: dict[str, Callable[[str], str]] = {"card_last4": _card_last4}


def read_answers(text: str, requested: Iterable[str]) -> dict[str, str]:
    """The requested facts found in ``text`` (missing ones are absent, never empty strings)."""
    found: dict[str, str] = {}
    for name in requested:
        labelled = re.search(rf"(?im)^\s*{re.escape(name)}\s*[:=]\s*(\S.*?)\s*$", text)
        value = labelled.group(1) if labelled else ""
        reader = READERS.get(name)
        if reader is not None:
            value = reader(value or text)
        if value:
            found[name] = value[:200]
    return found
