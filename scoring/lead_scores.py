"""What scoring tells sales about its leads' scores (``sales.scores``), registered in
``ScoringConfig.ready``: the lead list's score column, the playbook rules' score facts and the
cadence's top-reason merge field. A lead's acting score is its newest champion or canary score."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
from django.db.models import OuterRef, QuerySet, Subquery, TextField
from django.db.models.functions import Cast

from sales.models import Lead
from sales.scores import LeadScoreFacts, ScoreSource
from scoring.choices import ScoreRole
from scoring.models import LeadScore, ModelVersion
from scoring.selectors import acting_scores

ACTING_ROLES = (ScoreRole.CHAMPION, ScoreRole.CANARY)


def leads_with_acting_score(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """Annotate each lead with its acting score and tier (newest champion/canary score), in the same query."""
    latest = LeadScore.objects.filter(lead=OuterRef("pk"), role__in=ACTING_ROLES).order_by(
        "-scored_at", "-id"
    )
    return leads.annotate(
        acting_score=Subquery(latest.values("score")[:1]), acting_tier=Subquery(latest.values("tier")[:1])
    )


def _reason_texts(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        reasons = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ()
    return tuple(r["text"] for r in reasons if isinstance(r, dict) and isinstance(r.get("text"), str))


def lead_score_facts(low: int, high: int, since: datetime | None) -> dict[int, LeadScoreFacts]:
    """The acting-score facts of the leads with ids in ``[low, high]``, in two queries whatever the
    range: their acting-score history, and the labels of the model versions behind the latest ones.
    ``since`` bounds the history kept per lead (None: none)."""
    latest: dict[int, tuple[datetime, int, int, str, int, str | None]] = {}
    history: dict[int, list[tuple[datetime, int, int]]] = {}
    for lead_id, scored_at, pk, score, tier, version_id, reasons in (
        LeadScore.objects.filter(lead_id__gte=low, lead_id__lte=high, role__in=ACTING_ROLES)
        .annotate(reasons_text=Cast("reasons", output_field=TextField()))
        .order_by()
        .values_list("lead_id", "scored_at", "id", "score", "tier", "model_version_id", "reasons_text")
    ):
        current = latest.get(lead_id)
        if current is None or (scored_at, pk) > (current[0], current[1]):
            latest[lead_id] = (scored_at, pk, score, tier, version_id, reasons)
        if since is not None and scored_at >= since:
            history.setdefault(lead_id, []).append((scored_at, pk, score))
    labels = {
        pk: f"{kind}:{name}:v{version}"
        for pk, kind, name, version in ModelVersion.objects.filter(
            pk__in={v[4] for v in latest.values()}
        ).values_list("pk", "kind", "name", "version")
    }
    return {
        lead_id: LeadScoreFacts(
            score=point[2],
            tier=point[3],
            score_id=point[1],
            model_version_id=point[4],
            model_version=labels.get(point[4], ""),
            reasons=_reason_texts(point[5]),
            history=tuple(sorted(history.get(lead_id, []))),
        )
        for lead_id, point in latest.items()
    }


def lead_top_reasons(lead_ids: Sequence[int]) -> dict[int, str]:
    """The wording of the first reason of each lead's acting score ("" when it has none worded)."""
    return {
        lead_id: next((str(r["text"]) for r in score.reasons if isinstance(r, dict) and r.get("text")), "")
        for lead_id, score in acting_scores(lead_ids).items()
    }


LEAD_SCORES = ScoreSource(
    name="acting scores",
    annotate=leads_with_acting_score,
    facts=lead_score_facts,
    top_reasons=lead_top_reasons,
)
