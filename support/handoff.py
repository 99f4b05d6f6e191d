"""Where the support bot hands a ticket off to: the most specific matching route. Pure (no ORM).

Support leads keep the routes in the admin (``support.models.HandoffRoute``, with history): for an
intent and/or a helpdesk, the group (Zendesk) or team (Intercom) that takes the ticket, its priority
and tags. A route naming both the intent and the helpdesk beats one naming the intent, which beats
one naming the helpdesk, which beats the catch-all; among equals the lower ``order`` wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class HandoffRule:
    """One route: ``intent`` and ``source`` empty match any."""

    name: str
    group: str
    queue: str = ""
    intent: str = ""
    source: str = ""
    priority: str = ""
    tags: tuple[str, ...] = ()
    order: int = 100


def handoff_route(rules: Sequence[HandoffRule], *, intent: str, source: str) -> HandoffRule | None:
    """The route for a ticket of ``intent`` from the helpdesk ``source``, or None (no route matches)."""
    matching = [rule for rule in rules if rule.intent in ("", intent) and rule.source in ("", source)]
    if not matching:
        return None
    return min(matching, key=lambda r: (not r.intent, not r.source, r.order, r.name))
