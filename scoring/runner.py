"""Scoring leads with the active models: calibrated score, tier and explanation, persisted.

The champion scores every lead, except the deterministic share a canary takes; shadows score
every lead and are logged, never acted on. A lead whose features (and the tier thresholds) have
not changed since its last score by a model is skipped: nothing to compute, nothing to write.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat

import numpy as np
from django.db import connection, connections
from django.db.models import QuerySet
from django.utils import timezone

from audit.choices import EventType
from audit.services import decision_log_append
from sales.models import Lead
from sales.selectors import iter_lead_id_batches
from scoring.choices import ModelKind, ScoreRole
from scoring.features import matrix_from_columns, parse_spec
from scoring.metrics import tier_for
from scoring.models import ModelVersion
from scoring.persist import write_lead_scores
from scoring.predictor import Predictor, predictor_for, row_hashes
from scoring.selectors import active_models, latest_hashes, lead_columns, scoring_policy

BATCH_SIZE = 20_000


class NoChampion(Exception):
    """There is no champion lead model to score with."""


@dataclass
class ScoringSummary:
    leads: int = 0
    written: dict[str, int] = field(default_factory=lambda: {r.value: 0 for r in ScoreRole})
    unchanged: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "leads": self.leads,
            "written": self.written,
            "unchanged": self.unchanged,
            "seconds": round(self.seconds, 2),
        }


def canary_bucket(lead_id: int, version_id: int) -> float:
    """A stable number in [0, 1) per lead and canary: the same lead always lands on the same side."""
    digest = hashlib.blake2b(f"{version_id}:{lead_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _leads(lead_ids: Sequence[int] | None, source: str | None) -> QuerySet[Lead]:
    leads = Lead.objects.all()
    if lead_ids is not None:
        leads = leads.filter(pk__in=list(lead_ids))
    if source:
        leads = leads.filter(source=source)
    return leads


def leads_score(
    *,
    actor: str,
    lead_ids: Sequence[int] | None = None,
    source: str | None = None,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    top: int = 5,
    progress: Callable[[int], object] | None = None,
) -> ScoringSummary:
    """Score leads (all, some ids, or one source) with the champion, canary and shadow models."""
    started = time.perf_counter()
    active = active_models(ModelKind.LEAD_SCORE)
    if not active["champion"]:
        raise NoChampion("scoring: there is no champion lead model; train one and promote it first")
    champion = active["champion"][0]
    canary = active["canary"][0] if active["canary"] else None
    policy = scoring_policy(ModelKind.LEAD_SCORE)
    thresholds = policy.tier_thresholds
    now = now or timezone.now()
    summary = ScoringSummary()
    predictors = {
        v.pk: predictor_for(v.feature_spec, v.preprocessing, bytes(v.artifact)) for v in _all(active)
    }

    base = _leads(lead_ids, source)
    writer = ScoreWriter.for_this_connection()
    try:
        for batch in iter_lead_id_batches(base, batch_size):
            matrices: dict[str, tuple[list[int], np.ndarray]] = {}
            rows_to_write: list[tuple[object, ...]] = []
            batch_leads = _batch_queryset(base, batch, exact=lead_ids is not None)
            # Leads deleted since the ids were listed drop out here; every mask follows these ids.
            batch, _ = _matrix(champion, predictors[champion.pk], batch_leads, matrices, now)
            acting_canary = np.zeros(len(batch), dtype=bool)
            if canary is not None:
                acting_canary = np.array([canary_bucket(i, canary.pk) < canary.canary_share for i in batch])
            plan = [(champion, ScoreRole.CHAMPION, ~acting_canary)]
            if canary is not None:
                plan.append((canary, ScoreRole.CANARY, acting_canary))
            plan += [
                (shadow, ScoreRole.SHADOW, np.ones(len(batch), dtype=bool)) for shadow in active["shadow"]
            ]
            for version, role, mask in plan:
                if not mask.any():
                    continue
                predictor = predictors[version.pk]
                ids, matrix = _matrix(version, predictor, batch_leads, matrices, now)
                ids_arr = np.array(ids)[mask]
                sub = matrix[mask]
                salt = f"{version.pk}:{thresholds['hot']}:{thresholds['warm']}"
                hashes = row_hashes(sub, salt)
                previous = latest_hashes(ids_arr.tolist(), version)
                changed = np.array(
                    [previous.get(int(i)) != h for i, h in zip(ids_arr, hashes, strict=True)], dtype=bool
                )
                summary.unchanged += int((~changed).sum()) if role != ScoreRole.SHADOW else 0
                if not changed.any():
                    continue
                sub, ids_changed = sub[changed], ids_arr[changed]
                hashes_changed = [h for h, c in zip(hashes, changed, strict=True) if c]
                dmatrix = predictor.dmatrix(sub)
                # Shadows are logged for comparison only; explanations are computed for acting scores.
                if role == ScoreRole.SHADOW:
                    scored, reasons = predictor.score(sub, dmatrix), ["[]"] * len(ids_changed)
                else:
                    scored, reasons = predictor.score_and_explain(sub, dmatrix, top=top)
                tiers = tier_for(scored.score, thresholds).tolist()
                # Rows in persist.COLUMNS order, zipped in C rather than built one call per lead.
                rows_to_write.extend(
                    zip(
                        ids_changed.tolist(),
                        repeat(version.pk),
                        repeat(str(role)),
                        scored.probability.tolist(),
                        scored.score.tolist(),
                        tiers,
                        reasons,
                        hashes_changed,
                        repeat(now),
                    )
                )
                summary.written[role] += len(ids_changed)
            writer.write(rows_to_write)
            summary.leads += len(batch)
            if progress:
                progress(len(batch))
    finally:
        writer.close()
    summary.seconds = time.perf_counter() - started
    if not any(summary.written.values()):
        return summary  # nothing changed: nothing to record
    decision_log_append(
        event_type=EventType.LEADS_SCORED,
        actor=actor,
        subject_type="lead_scoring",
        model_version=champion.label,
        input_context={"source": source or "", "lead_ids": len(lead_ids) if lead_ids is not None else "all"},
        action_taken=summary.as_dict(),
    )
    return summary


class ScoreWriter:
    """Writes each batch's score rows, on a second thread and connection when it can.

    On PostgreSQL the write of one batch then overlaps the loading and explaining of the next (the
    server does its share of the work in its own process while Python computes). Inside a
    transaction (a caller's atomic block, a test) another connection would not see the same data,
    and SQLite gains nothing from it, so the rows are written inline there. ``close`` waits for the
    last write and re-raises its error.
    """

    def __init__(self, *, background: bool) -> None:
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="score-writer") if background else None
        )
        self._pending: Future[int] | None = None

    @classmethod
    def for_this_connection(cls) -> ScoreWriter:
        # SQLite writes in this process, mostly holding the GIL, and locks the file against the
        # reads of the next batch: measured, a second thread only slows it down.
        return cls(background=connection.vendor == "postgresql" and not connection.in_atomic_block)

    def write(self, rows: list[tuple[object, ...]]) -> None:
        if self._pool is None:
            write_lead_scores(rows)
            return
        self._wait()  # at most one batch in flight: memory stays bounded
        self._pending = self._pool.submit(write_lead_scores, rows)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        if self._pool is None:
            return
        try:
            self._wait()
        finally:
            # The writer thread's own connection closes with it.
            self._pool.submit(connections.close_all).result()
            self._pool.shutdown()


def _all(active: dict[str, list[ModelVersion]]) -> list[ModelVersion]:
    return [v for versions in active.values() for v in versions]


def _batch_queryset(base: QuerySet[Lead], batch: list[int], *, exact: bool) -> QuerySet[Lead]:
    """The batch's leads. Batches are consecutive ids of ``base``, so an id range selects them
    exactly and cheaply; an explicit id list needs the list itself."""
    leads = base.filter(id__gte=batch[0], id__lte=batch[-1])
    return (leads.filter(pk__in=batch) if exact else leads).order_by("id")


def _matrix(
    version: ModelVersion,
    predictor: Predictor,
    leads: QuerySet[Lead],
    cache: dict[str, tuple[list[int], np.ndarray]],
    now: datetime,
) -> tuple[list[int], np.ndarray]:
    """The batch's matrix for a model's spec and vocabulary, built once per batch per model inputs."""
    key = json.dumps([version.feature_spec, predictor.vocabulary], sort_keys=True)
    if key not in cache:
        features = parse_spec(version.feature_spec)
        loaded = lead_columns(leads, features, as_of=now)
        cache[key] = (
            loaded.ids,
            matrix_from_columns(features, loaded.columns, predictor.vocabulary, rows=len(loaded.ids)),
        )
    return cache[key]
