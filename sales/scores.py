"""A lead's acting score as sales reads it, supplied by the app that scores leads.

Scoring sits above sales in the layers (it reads leads to score them), so sales never imports it:
scoring registers a ``ScoreSource`` in ``ScoringConfig.ready()`` (``scoring.lead_scores``), as it
registers its fact source and panel with approvals (``approvals.subjects``). Sales asks this module
for a lead's acting score (its newest champion or canary score) in three places:

- the lead list's score column: ``leads_with_acting_score`` annotates each row with
  ``acting_score`` and ``acting_tier`` in the list's own query;
- the facts the playbook rules read: ``lead_score_facts`` for a range of lead ids;
- the cadence's ``top_reason`` merge field: ``lead_top_reasons``.

With no source registered, no lead has a score: the column is empty and the rules and merge fields
see none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import CharField, IntegerField, QuerySet, Value

if TYPE_CHECKING:
    from sales.models import Lead


@dataclass(frozen=True)
class LeadScoreFacts:
    """What the playbook rules read of one lead's acting score: the score, its tier, its id, the
    model version behind it (id and ``kind:name:vN`` label), the wording of its reasons, and the
    acting scores of the window asked for as ``(scored_at, score id, score)``, oldest first."""

    score: int
    tier: str
    score_id: int
    model_version_id: int | None
    model_version: str
    reasons: tuple[str, ...]
    history: tuple[tuple[datetime, int, int], ...]


@dataclass(frozen=True)
class ScoreSource:
    """How sales reads the scores of its leads.

    ``annotate(leads)`` adds ``acting_score`` and ``acting_tier`` (None for a lead without one) to
    each row of the queryset, in the same query. ``facts(low, high, since)`` gives the
    ``LeadScoreFacts`` of every lead with an id in ``[low, high]`` that has an acting score, by lead
    id, with the history since ``since`` (none when None), in a constant number of queries.
    ``top_reasons(lead_ids)`` gives the wording of the first reason of each lead's acting score.
    """

    name: str
    annotate: Callable[[QuerySet[Lead]], QuerySet[Lead]]
    facts: Callable[[int, int, datetime | None], dict[int, LeadScoreFacts]]
    top_reasons: Callable[[Sequence[int]], dict[int, str]]


def _no_scores(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    return leads.annotate(
        acting_score=Value(None, output_field=IntegerField()),
        acting_tier=Value(None, output_field=CharField()),
    )


def _no_facts(low: int, high: int, since: datetime | None) -> dict[int, LeadScoreFacts]:
    return {}


def _no_reasons(lead_ids: Sequence[int]) -> dict[int, str]:
    return {}


NO_SCORES = ScoreSource(name="no scores", annotate=_no_scores, facts=_no_facts, top_reasons=_no_reasons)
_source = NO_SCORES


def score_source_register(source: ScoreSource) -> ScoreSource:
    """Make ``source`` the one sales reads scores from (one app scores leads: the last one wins)."""
    global _source
    _source = source
    return source


def leads_with_acting_score(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """``leads`` with each row's ``acting_score`` and ``acting_tier``, in the same query."""
    return _source.annotate(leads)


def lead_score_facts(*, low: int, high: int, since: datetime | None) -> dict[int, LeadScoreFacts]:
    """The acting-score facts of the leads with ids in ``[low, high]`` (those with a score), by id."""
    return _source.facts(low, high, since)


def lead_top_reasons(lead_ids: Sequence[int]) -> dict[int, str]:
    """The first reason's wording of each lead's acting score (leads without one are left out)."""
    return _source.top_reasons(lead_ids)
