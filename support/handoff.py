"""Where the support bot hands a ticket off to: the most specific matching route. Pure (no ORM).

Support leads keep the routes in the admin (``support.models.HandoffRoute``, with history): for an
intent, a team, a language and/or a helpdesk, the group (Zendesk) or team (Intercom) that takes the
ticket, its priority and tags. Every criterion a route names must hold; among the routes that match,
the one naming the intent wins, then the one naming the team, then the language, then the helpdesk
(so intent and helpdesk beats intent alone, which beats helpdesk alone, which beats the catch-all);
among equals the lower ``order`` wins, then the name.

A route's language is a language tag's primary part or a whole tag: ``pt`` takes ``pt`` and
``pt-BR`` tickets, ``pt-BR`` only ``pt-BR`` ones (case does not matter).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: A route's language: a BCP 47 tag's language and optional subtags (pt, pt-BR, zh-Hant-TW).
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


@dataclass(frozen=True)
class HandoffRule:
    """One route: ``intent``, ``team``, ``language`` and ``source`` empty match any."""

    name: str
    group: str
    queue: str = ""
    intent: str = ""
    source: str = ""
    team: str = ""
    language: str = ""
    assignee: str = ""
    priority: str = ""
    tags: tuple[str, ...] = ()
    order: int = 100


def handoff_route(
    rules: Sequence[HandoffRule], *, intent: str, source: str, team: str = "", language: str = ""
) -> HandoffRule | None:
    """The route for a ticket of ``intent`` from the helpdesk ``source``, of the ``team`` and in the
    ``language`` given (empty: unknown, so only routes not naming one match), or None."""
    matching = [
        rule
        for rule in rules
        if rule.intent in ("", intent)
        and rule.source in ("", source)
        and rule.team in ("", team)
        and _language_matches(rule.language, language)
    ]
    if not matching:
        return None
    return min(
        matching,
        key=lambda r: (not r.intent, not r.team, not r.language, not r.source, r.order, r.name),
    )


def _language_matches(route: str, ticket: str) -> bool:
    if not route:
        return True
    route, ticket = route.lower(), ticket.lower()
    return ticket == route or ticket.startswith(f"{route}-")
