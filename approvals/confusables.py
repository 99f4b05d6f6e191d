"""Text an approver could misread: invisible and direction-changing characters, look-alike names.

Pure (no ORM). An approver decides on what they *read*; an agent that writes ``аdmin`` with a
Cyrillic ``а``, hides a zero-width space inside a name, or flips a subject with a right-to-left
override shows the approver one thing and asks for another. ``approvals.schemas`` refuses such
text in single-line fields (subjects, names) and in names (owners, queues, cadences, groups) the
stricter ``name_problem`` applies.
"""

from __future__ import annotations

import unicodedata

# Explicit direction embeddings, overrides and isolates (Trojan Source): they reorder what is shown.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")

# The embeddings, overrides and isolates alone: refused even in multi-line text (a body), where the
# plain marks (U+200E, U+200F, U+061C) may be how right-to-left writing is meant to read.
DIRECTION_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# Scripts whose letters pass for Latin ones; one word mixing two of them is a look-alike.
_CONFUSABLE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC")


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')}"


def control_problem(value: str) -> str | None:
    """Why ``value`` may not be shown to an approver as one line, or None.

    Refuses direction controls and every other invisible format character (category Cf: zero-width
    spaces and joiners, soft hyphens, word joiners), and control characters (category Cc).
    """
    for ch in value:
        if ch in BIDI_CONTROLS:
            return (
                f"must not contain the direction control {_describe(ch)}; it changes what the approver reads"
            )
        category = unicodedata.category(ch)
        if category == "Cf":
            return f"must not contain the invisible character {_describe(ch)}"
        if category == "Cc":
            return f"must not contain the control character {_describe(ch)}"
    return None


def override_problem(value: str) -> str | None:
    """Why multi-line ``value`` (a message body) would read differently than it is, or None."""
    for ch in value:
        if ch in DIRECTION_OVERRIDES:
            return (
                f"must not contain the direction control {_describe(ch)}; it changes what the approver reads"
            )
    return None


def _script(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    return next((script for script in _CONFUSABLE_SCRIPTS if name.startswith(script + " ")), None)


def name_problem(value: str) -> str | None:
    """Why ``value`` cannot name a person, queue or playbook without being mistaken for another, or None.

    Beyond ``control_problem``: the name must be in Unicode NFKC form (no full-width or styled
    letters that render like plain ones), and no word may mix letters of Latin, Cyrillic, Greek or
    other scripts that pass for one another.
    """
    problem = control_problem(value)
    if problem:
        return problem
    if unicodedata.normalize("NFKC", value) != value:
        return "must use plain letters (Unicode NFKC form); full-width or styled letters look like others"
    for word in value.split():
        scripts = {script for ch in word if ch.isalpha() and (script := _script(ch))}
        if len(scripts) > 1:
            return (
                f"mixes {' and '.join(sorted(s.title() for s in scripts))} letters in {word!r}, a look-alike"
            )
    return None
