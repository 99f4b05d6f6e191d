"""Message templates with merge fields, rendered in a sandbox.

A template is plain text with ``{{ field }}`` inserts and nothing else: no attribute access, no
filters, no expressions, no loops. Rendering looks names up in one flat mapping built from the
listed fields of the lead and its signals (``MERGE_FIELDS``), so a template cannot reach anything
else, whatever its author writes. A field the template uses but the lead lacks (or holds empty)
is an error naming the field, never an empty hole in a message a customer reads; an author may
write ``{{ field | "fallback" }}`` to give a fallback text on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: The merge fields a template may use, with what each holds (shown in the admin).
MERGE_FIELDS: dict[str, str] = {
    "first_name": "The lead's first name.",
    "last_name": "The lead's last name.",
    "full_name": "First and last name.",
    "title": "Job title.",
    "company": "Company name (the account's, else the lead's own).",
    "industry": "The account's industry.",
    "country": "Country (ISO code).",
    "sender_name": "Name of the SDR who owns the lead.",
    "top_reason": "The strongest reason of the lead's score, in plain words.",
    "recent_signal": "The newest engagement or intent signal (e.g. 'visited the pricing page').",
    "unsubscribe_url": "The lead's personal unsubscribe link.",
}

MAX_FALLBACK = 100
_INSERT = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_BODY = re.compile(r'^\s*([a-z_][a-z0-9_]*)\s*(?:\|\s*"([^"{}]*)"\s*)?$')


class TemplateError(ValueError):
    """A template that cannot be rendered; ``field`` names the merge field (or ``template``)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class Insert:
    start: int
    end: int
    name: str
    fallback: str | None


def parse(template: str, fields: Mapping[str, str] = MERGE_FIELDS) -> list[Insert]:
    """The template's inserts, in order; raises ``TemplateError`` for anything but a name in ``fields``
    (the lead's merge fields unless another app passes its own list, e.g. the support bot's)."""
    inserts = []
    for match in _INSERT.finditer(template):
        body = match.group(1)
        parsed = _BODY.match(body)
        if parsed is None:
            raise TemplateError(
                "template",
                f'{{{{{body}}}}} is not a merge field; write {{{{ name }}}} or {{{{ name | "fallback" }}}}',
            )
        name, fallback = parsed.group(1), parsed.group(2)
        if name not in fields:
            raise TemplateError(name, f"unknown merge field (allowed: {', '.join(sorted(fields))})")
        if fallback is not None and len(fallback) > MAX_FALLBACK:
            raise TemplateError(name, f"fallback longer than {MAX_FALLBACK} characters")
        inserts.append(Insert(match.start(), match.end(), name, fallback))
    rest = _INSERT.sub("", template)
    if "{{" in rest or "}}" in rest:
        raise TemplateError("template", "unbalanced {{ or }}")
    return inserts


def fields_used(template: str, fields: Mapping[str, str] = MERGE_FIELDS) -> set[str]:
    return {insert.name for insert in parse(template, fields)}


def render(
    template: str,
    values: Mapping[str, object],
    fields: Mapping[str, str] = MERGE_FIELDS,
    subject: str = "lead",
) -> str:
    """Fill the inserts from ``values``; a used field that is missing or blank raises
    ``TemplateError`` naming it (unless the insert gives a fallback)."""
    out, position = [], 0
    for insert in parse(template, fields):
        out.append(template[position : insert.start])
        value = values.get(insert.name)
        text = "" if value is None else str(value).strip()
        if not text:
            if insert.fallback is None:
                raise TemplateError(
                    insert.name, f"has no value for this {subject}; fill it in or give a fallback"
                )
            text = insert.fallback
        out.append(text)
        position = insert.end
    out.append(template[position:])
    return "".join(out)
