"""django-q2 tasks: thin wrappers around the scoring services (safe to run twice)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django_q.tasks import async_task

from core import events
from scoring.models import FeatureSet
from taskruns.ledger import ledgered

logger = logging.getLogger(__name__)


@ledgered
def train_lead_model_task(feature_set_id: int, actor: str = "task:train") -> int:
    from scoring.training import train_lead_model

    return train_lead_model(feature_set=FeatureSet.objects.get(pk=feature_set_id), actor=actor).pk


@ledgered
def train_intent_model_task(actor: str = "task:train_intent", promote: bool = False) -> int:
    """Train and register an intent model; with ``promote``, make it champion if the gate passes.
    A refusal is logged (the candidate stays registered with its gate report in the decision log,
    and the champion keeps acting): a scheduled retraining must not fail the task for that."""
    from scoring.intent_services import intent_model_train
    from scoring.services import GateFailed, model_version_promote

    version = intent_model_train(actor=actor)
    if promote:
        try:
            model_version_promote(
                version_id=version.pk, to="champion", actor=actor, reason="scheduled retraining"
            )
        except GateFailed as exc:
            logger.warning(
                "intent model %s not promoted: %s", version.pk, exc, extra={"model_version_id": version.pk}
            )
    return version.pk


@ledgered
def score_leads_task(lead_ids: Sequence[int] | None = None, actor: str = "task:score") -> dict[str, object]:
    from scoring.runner import NoChampion, leads_score

    try:
        summary = leads_score(actor=actor, lead_ids=lead_ids)
    except NoChampion:
        return {"skipped": "no champion"}
    # New acting scores may make playbook rules fire; unchanged leads cannot, so skip them.
    if summary.written["champion"] or summary.written["canary"]:
        events.publish("leads.scored", lead_ids=list(lead_ids) if lead_ids is not None else None)
    return summary.as_dict()


@ledgered
def drift_check_task(actor: str = "task:drift") -> int | None:
    from scoring.monitoring import NothingToCheck, drift_check

    try:
        return drift_check(actor=actor).pk
    except NothingToCheck:
        return None


def enqueue_training(feature_set_id: int, *, reason: str) -> str:
    return async_task(
        train_lead_model_task, feature_set_id, f"task:train ({reason})", task_name=f"train {feature_set_id}"
    )


def enqueue_rescore(lead_ids: Sequence[int]) -> str | None:
    """Queue re-scoring of changed leads (called after the change commits)."""
    if not lead_ids:
        return None
    return async_task(score_leads_task, list(lead_ids), "task:rescore", task_name="rescore changed leads")


def rescore_changed_leads(*, lead_ids: Sequence[int]) -> None:
    """``leads.changed`` subscriber: queue re-scoring, when it is on and a champion exists."""
    from scoring.selectors import champion

    if settings.SCORING_AUTO_RESCORE and champion() is not None:
        enqueue_rescore(lead_ids)
