from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from django.db.models import Count, OuterRef, QuerySet, Subquery, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from sales.models import Lead, PlaybookRule
from sales.playbook import (
    LeadFacts,
    RuleSpec,
    RuleSpecError,
    evaluate_rules,
    longest_window_days,
    parse_actions,
    parse_conditions,
    rule_version,
)


def leads_for_list(*, status: str = "", source: str = "", search: str = "") -> QuerySet[Lead]:
    """Leads for the list page, newest first, with what the rows show joined in (no per-row queries)."""
    queryset = with_acting_score(Lead.objects.select_related("owner", "account")).order_by(
        "-updated_at", "-id"
    )
    if status:
        queryset = queryset.filter(status=status)
    if source:
        queryset = queryset.filter(source=source)
    if search:
        queryset = (
            queryset.filter(company_name__icontains=search)
            | queryset.filter(last_name__icontains=search)
            | queryset.filter(external_id=search)
        )
    return queryset


def lead_counts_by_status() -> dict[str, int]:
    return dict(Lead.objects.order_by().values_list("status").annotate(n=Count("id")))


def with_acting_score(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """Annotate each lead with its acting score and tier (newest champion/canary score), in the same query."""
    from scoring.models import LeadScore

    latest = LeadScore.objects.filter(lead=OuterRef("pk"), role__in=["champion", "canary"]).order_by(
        "-scored_at", "-id"
    )
    return leads.annotate(
        acting_score=Subquery(latest.values("score")[:1]), acting_tier=Subquery(latest.values("tier")[:1])
    )


# --- Playbooks ---------------------------------------------------------------------------------


def playbook_rules_active() -> list[RuleSpec]:
    """The active rules of active playbooks, parsed (one query). A rule whose stored spec no longer
    parses (edited around the admin's validation) is skipped rather than failing the run."""
    from sales.models import PlaybookRule

    specs = []
    for rule in PlaybookRule.objects.filter(is_active=True, playbook__is_active=True).order_by(
        "priority", "name", "id"
    ):
        spec = rule_spec(rule)
        if spec is not None:
            specs.append(spec)
    return specs


def rule_spec(rule: PlaybookRule) -> RuleSpec | None:
    try:
        conditions, actions = parse_conditions(rule.conditions), parse_actions(rule.actions)
    except RuleSpecError:
        return None
    return RuleSpec(
        id=rule.pk,
        name=rule.name,
        conditions=conditions,
        actions=actions,
        priority=rule.priority,
        stop_processing=rule.stop_processing,
        version=rule_version(rule.conditions, rule.actions),
    )


def _reason_texts(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        reasons = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ()
    return tuple(r["text"] for r in reasons if isinstance(r, dict) and isinstance(r.get("text"), str))


def playbook_lead_facts(*, lead_ids: Sequence[int], now: datetime, history_days: int) -> list[LeadFacts]:
    """Facts for the rules about a batch of leads (ascending ids), in three queries whatever its size:
    the leads, their acting-score history, and the labels of the model versions behind it.

    ``history_days`` bounds the score history kept per lead (the longest drop window of the rules).
    """
    from scoring.choices import ScoreRole
    from scoring.models import LeadScore, ModelVersion

    if not lead_ids:
        return []
    low, high = min(lead_ids), max(lead_ids)
    wanted = set(lead_ids)
    # An id range is cheaper to send and plan than thousands of ids; extra rows are dropped here.
    leads = [
        row
        for row in Lead.objects.filter(id__gte=low, id__lte=high)
        .annotate(attributes_text=Cast("attributes", output_field=TextField()))
        .order_by("id")
        .values_list("id", "status", "owner_id", "has_open_opportunity", "attributes_text")
        if row[0] in wanted
    ]
    latest: dict[int, tuple[datetime, int, int, str, int, str | None]] = {}
    history: dict[int, list[tuple[datetime, int, int]]] = {}
    since = now - timedelta(days=history_days)
    for lead_id, scored_at, pk, score, tier, version_id, reasons in (
        LeadScore.objects.filter(
            lead_id__gte=low, lead_id__lte=high, role__in=[ScoreRole.CHAMPION, ScoreRole.CANARY]
        )
        .annotate(reasons_text=Cast("reasons", output_field=TextField()))
        .order_by()
        .values_list("lead_id", "scored_at", "id", "score", "tier", "model_version_id", "reasons_text")
    ):
        current = latest.get(lead_id)
        if current is None or (scored_at, pk) > (current[0], current[1]):
            latest[lead_id] = (scored_at, pk, score, tier, version_id, reasons)
        if history_days and scored_at >= since:
            history.setdefault(lead_id, []).append((scored_at, pk, score))
    labels = {
        pk: f"{kind}:{name}:v{version}"
        for pk, kind, name, version in ModelVersion.objects.filter(
            pk__in={v[4] for v in latest.values()}
        ).values_list("pk", "kind", "name", "version")
    }
    from scoring.selectors import _json_objects

    attributes = _json_objects([row[4] for row in leads])
    facts = []
    for (lead_id, status, owner_id, opportunity, _), attrs in zip(leads, attributes, strict=True):
        point = latest.get(lead_id)
        facts.append(
            LeadFacts(
                id=lead_id,
                status=status,
                owner_id=owner_id,
                has_open_opportunity=opportunity,
                attributes=attrs,
                score=point[2] if point else None,
                tier=point[3] if point else "",
                score_id=point[1] if point else None,
                model_version_id=point[4] if point else None,
                model_version=labels.get(point[4], "") if point else "",
                reasons=_reason_texts(point[5]) if point else (),
                history=tuple(sorted(history.get(lead_id, []))),
            )
        )
    return facts


@dataclass(frozen=True)
class RulePreview:
    """How many leads a rule would fire for now, with a few of them (nothing is created)."""

    leads: int
    proposals: int
    sample: list[tuple[int, str]]


def playbook_rule_preview(
    *, rule: PlaybookRule, now: datetime | None = None, sample: int = 10, batch_size: int = 5000
) -> RulePreview:
    """Dry run of one rule over every lead: the count it would fire for, and a sample of them.

    Counts matches of the rule alone (the rules before it in its playbook may stop processing first),
    and counts leads already proposed for, since it shows what the conditions select.
    """
    from scoring.selectors import iter_lead_id_batches

    spec = rule_spec(rule)
    if spec is None:
        return RulePreview(0, 0, [])
    now = now or timezone.now()
    hits: list[int] = []
    proposals = 0
    for batch in iter_lead_id_batches(Lead.objects.all(), batch_size):
        for facts in playbook_lead_facts(lead_ids=batch, now=now, history_days=longest_window_days([spec])):
            matches = evaluate_rules(facts, [spec], now=now)
            if matches:
                hits.append(facts.id)
                proposals += len(matches)
    names = dict((pk, str(lead)) for pk, lead in Lead.objects.in_bulk(hits[:sample]).items())
    return RulePreview(len(hits), proposals, [(pk, names.get(pk, f"#{pk}")) for pk in hits[:sample]])
