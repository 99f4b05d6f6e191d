from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from core.json_columns import object_from_text, objects_from_texts
from sales.models import Lead, LeadEvent
from scoring.choices import ModelKind, ModelStatus, ScoreRole
from scoring.features import FeatureDef, Record, raw_value
from scoring.models import FeatureSet, LeadScore, ModelVersion, ScoringPolicy

CHUNK = 5000


@dataclass
class LeadRows:
    """Leads as feature records, with what training needs beside them."""

    ids: list[int]
    records: list[Record]
    outcomes: list[str]
    times: list[datetime | None]


def _lead_fields(features: Sequence[FeatureDef], *, with_times: bool) -> list[str]:
    fields = {"id", "outcome"} | ({"outcome_at", "created_at"} if with_times else set())
    for feature in features:
        if feature.source_kind == "lead":
            fields.add(feature.source_key)
        elif feature.source_kind == "account":
            fields.add(f"account__{feature.source_key}")
    return sorted(fields)


def lead_rows(
    leads: QuerySet[Lead], features: Sequence[FeatureDef], *, as_of: datetime | None, at_outcome: bool = False
) -> LeadRows:
    """Load ``leads`` (in the queryset's order) as records: one query, plus one per 5,000 leads for events.

    With ``at_outcome``, each record's as-of time is its outcome time (training: events after the
    outcome must not count); otherwise ``as_of`` (scoring: now). ``attributes`` is read as text and
    decoded here: Django's per-row JSON converter costs more than everything else in the load.
    """
    # Scoring needs no times unless event windows do; skipping them skips their conversion.
    needs_times = at_outcome
    fields = _lead_fields(features, with_times=needs_times)
    lead_columns = [(i, f) for i, f in enumerate(fields) if not f.startswith("account__")]
    account_columns = [(i, f[len("account__") :]) for i, f in enumerate(fields) if f.startswith("account__")]
    id_at, outcome_at = fields.index("id"), fields.index("outcome")
    event_kinds = sorted({f.source_key for f in features if f.source_kind == "events"})
    values = list(
        leads.annotate(attributes_text=Cast("attributes", output_field=TextField())).values_list(
            *fields, "attributes_text"
        )
    )
    rows = LeadRows([], [], [], [])
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        events: dict[int, dict[str, list[datetime]]] = {}
        if event_kinds:
            for lead_id, kind, occurred_at in LeadEvent.objects.filter(
                lead_id__in=[v[id_at] for v in chunk], kind__in=event_kinds
            ).values_list("lead_id", "kind", "occurred_at"):
                events.setdefault(lead_id, {}).setdefault(kind, []).append(occurred_at)
        for value in chunk:
            lead = {name: value[i] for i, name in lead_columns}
            record_as_of = lead["outcome_at"] if at_outcome and lead["outcome_at"] else as_of
            rows.ids.append(value[id_at])
            rows.records.append(
                Record(
                    lead=lead,
                    account={name: value[i] for i, name in account_columns} if account_columns else {},
                    attributes=object_from_text(value[-1]),
                    events=events.get(value[id_at], {}),
                    as_of=record_as_of,
                )
            )
            rows.outcomes.append(value[outcome_at])
            rows.times.append((lead["outcome_at"] or lead["created_at"]) if needs_times else None)
    return rows


@dataclass
class LeadColumns:
    """Leads as feature columns: each feature's raw values, in the order of ``ids``."""

    ids: list[int]
    columns: dict[str, list[Any]]


def lead_columns(
    leads: QuerySet[Lead], features: Sequence[FeatureDef], *, as_of: datetime | None
) -> LeadColumns:
    """Load ``leads`` (in the queryset's order) straight into feature columns, for scoring.

    The same values ``lead_rows`` gives (``build_matrix`` over either makes the same matrix), without
    building a record per lead: one query, plus one per 5,000 leads when event counts are needed.
    """
    fields = _lead_fields(features, with_times=False)
    rows = list(
        leads.annotate(attributes_text=Cast("attributes", output_field=TextField())).values_list(
            *fields, "attributes_text"
        )
    )
    id_at = fields.index("id")
    ids = [row[id_at] for row in rows]
    attributes = (
        objects_from_texts([row[-1] for row in rows])
        if any(f.source_kind == "attributes" for f in features)
        else []
    )
    events = _events(ids, features)
    columns: dict[str, list[Any]] = {}
    for feature in features:
        kind, key = feature.source_kind, feature.source_key
        if kind == "attributes":
            columns[feature.name] = [a.get(key) for a in attributes]
        elif kind in ("lead", "account"):
            at = fields.index(key if kind == "lead" else f"account__{key}")
            columns[feature.name] = [row[at] for row in rows]
        else:
            columns[feature.name] = [
                raw_value(feature, Record(events=events.get(lead_id, {}), as_of=as_of)) for lead_id in ids
            ]
    return LeadColumns(ids, columns)


def _events(lead_ids: Sequence[int], features: Sequence[FeatureDef]) -> dict[int, dict[str, list[datetime]]]:
    """Event times per lead and kind, for the event-count features among ``features``."""
    kinds = sorted({f.source_key for f in features if f.source_kind == "events"})
    events: dict[int, dict[str, list[datetime]]] = {}
    if not kinds:
        return events
    for start in range(0, len(lead_ids), CHUNK):
        for lead_id, kind, occurred_at in LeadEvent.objects.filter(
            lead_id__in=lead_ids[start : start + CHUNK], kind__in=kinds
        ).values_list("lead_id", "kind", "occurred_at"):
            events.setdefault(lead_id, {}).setdefault(kind, []).append(occurred_at)
    return events


def training_leads(feature_set: FeatureSet) -> QuerySet[Lead]:
    """Leads with a known outcome, oldest outcome first (the order the time-ordered split cuts)."""
    leads = Lead.objects.exclude(outcome="unknown")
    if feature_set.lead_source:
        leads = leads.filter(source=feature_set.lead_source)
    return leads.order_by("outcome_at", "id")


def scoring_policy(kind: str = ModelKind.LEAD_SCORE) -> ScoringPolicy:
    policy, _ = ScoringPolicy.objects.get_or_create(kind=kind)
    return policy


def active_models(kind: str = ModelKind.LEAD_SCORE) -> dict[str, list[ModelVersion]]:
    """Champion, canary and shadow versions of a kind, by status."""
    active: dict[str, list[ModelVersion]] = {
        s: [] for s in (ModelStatus.CHAMPION, ModelStatus.CANARY, ModelStatus.SHADOW)
    }
    for version in ModelVersion.objects.filter(kind=kind, status__in=list(active)).order_by("pk"):
        active[version.status].append(version)
    return active


def champion(kind: str = ModelKind.LEAD_SCORE) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, status=ModelStatus.CHAMPION).first()


def model_version_next_number(*, kind: str, name: str) -> int:
    """The version number the next registered model of this kind and name gets (1 for the first)."""
    last = ModelVersion.objects.filter(kind=kind, name=name).order_by("-version").values("version").first()
    return last["version"] + 1 if last else 1


def latest_hashes(lead_ids: Sequence[int], version: ModelVersion) -> dict[int, str]:
    """The features hash of each lead's newest score by ``version`` (for skipping unchanged leads)."""
    latest: dict[int, tuple[int, str]] = {}
    wanted = set(lead_ids)
    ordered = sorted(wanted)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        # An id range is far cheaper to send and plan than thousands of ids; extra rows are dropped below.
        for lead_id, pk, features_hash in (
            LeadScore.objects.filter(model_version=version, lead_id__gte=chunk[0], lead_id__lte=chunk[-1])
            .order_by()
            .values_list("lead_id", "id", "features_hash")
        ):
            if lead_id in wanted and (lead_id not in latest or pk > latest[lead_id][0]):
                latest[lead_id] = (pk, features_hash)
    return {lead_id: h for lead_id, (_, h) in latest.items()}


def acting_scores(lead_ids: Sequence[int]) -> dict[int, LeadScore]:
    """Each lead's acting score: its newest champion or canary score."""
    latest: dict[int, LeadScore] = {}
    for start in range(0, len(lead_ids), CHUNK):
        for score in (
            LeadScore.objects.filter(
                lead_id__in=lead_ids[start : start + CHUNK], role__in=[ScoreRole.CHAMPION, ScoreRole.CANARY]
            )
            .select_related("model_version")
            .defer("model_version__artifact", "model_version__reference")
        ):
            current = latest.get(score.lead_id)
            if current is None or (score.scored_at, score.pk) > (current.scored_at, current.pk):
                latest[score.lead_id] = score
    return latest


def score_drops(
    *, percent: float, days: int, now: datetime, lead_ids: Sequence[int] | None = None
) -> dict[int, tuple[int, int]]:
    """Leads whose acting score fell by more than ``percent`` % from its highest point within ``days``.

    Returns lead id -> (highest score in the window, latest score). Compares acting scores only.
    """
    from datetime import timedelta

    scores = LeadScore.objects.filter(
        role__in=[ScoreRole.CHAMPION, ScoreRole.CANARY], scored_at__gte=now - timedelta(days=days)
    )
    if lead_ids is not None:
        scores = scores.filter(lead_id__in=list(lead_ids))
    history: dict[int, list[tuple[datetime, int, int]]] = {}
    for lead_id, scored_at, pk, score in scores.values_list("lead_id", "scored_at", "id", "score"):
        history.setdefault(lead_id, []).append((scored_at, pk, score))
    drops: dict[int, tuple[int, int]] = {}
    for lead_id, points in history.items():
        points.sort()
        latest = points[-1][2]
        peak = max(score for _, _, score in points)
        if peak > 0 and (peak - latest) / peak * 100 > percent:
            drops[lead_id] = (peak, latest)
    return drops


def acting_score_values(lead_ids: Sequence[int]) -> dict[int, int]:
    """Each lead's acting score value (as ``acting_scores``), one light query per 5,000 leads."""
    latest: dict[int, tuple[datetime, int, int]] = {}
    for start in range(0, len(lead_ids), CHUNK):
        for lead_id, scored_at, pk, score in (
            LeadScore.objects.filter(
                lead_id__in=lead_ids[start : start + CHUNK], role__in=[ScoreRole.CHAMPION, ScoreRole.CANARY]
            )
            .order_by()
            .values_list("lead_id", "scored_at", "id", "score")
        ):
            current = latest.get(lead_id)
            if current is None or (scored_at, pk) > current[:2]:
                latest[lead_id] = (scored_at, pk, score)
    return {lead_id: point[2] for lead_id, point in latest.items()}
