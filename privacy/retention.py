"""Purging what is past retention: each active ``RetentionPolicy`` deletes or anonymises the rows of
its kind whose last activity is older than its period, a batch at a time.

Ages are computed from the rows' own timestamps (the last activity of a lead: its last change, its
last event and its last proposed action; a ticket: its resolution, else its last change). A run
is idempotent: a deleted row is gone and an anonymised one no longer matches (its personal values
are blank), so a second run finds nothing. With ``dry_run`` nothing is written, only counted.
Consent records and the decision log are never purged: they are the proof of what was allowed and
what was done (and the log only ever held hashes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.sessions.models import Session
from django.db import models, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from approvals.models import ProposedAction
from audit.choices import EventType
from audit.services import decision_log_append
from connectors.models import ExecutionAttempt, InboundStatus, WebhookEvent
from privacy.anonymise import (
    LEAD_BLANK,
    TICKET_BLANK,
    history_forget,
    history_scrub,
    lead_is_blank_q,
    ticket_is_blank_q,
)
from privacy.choices import ALLOWED_ACTIONS, DataKind, RetentionAction
from privacy.models import RetentionPolicy
from sales.models import Lead, LeadEvent
from support.models import BotRun, SurveyResponse, Ticket

ACTOR = "privacy:retention"
DELETE, ANONYMISE = RetentionAction.DELETE.value, RetentionAction.ANONYMISE.value


@dataclass(frozen=True)
class _Kind:
    model: type[models.Model]
    #: The rows past the cutoff that this action still has to do something to.
    expired: Callable[[datetime, str], models.QuerySet]
    #: How an anonymised row is blanked (``None`` for kinds that are only deleted).
    blank: dict[str, object] | None = None


def _inactive_leads(cutoff: datetime, action: str) -> models.QuerySet:
    recent_event = LeadEvent.objects.filter(lead_id=OuterRef("pk"), occurred_at__gte=cutoff)
    recent_action = ProposedAction.objects.filter(lead_id=OuterRef("pk"), created_at__gte=cutoff)
    return (
        Lead.objects.filter(updated_at__lt=cutoff, has_open_opportunity=False)
        .exclude(lead_is_blank_q())
        .exclude(Exists(recent_event))
        .exclude(Exists(recent_action))
    )


def _tickets(cutoff: datetime, action: str) -> models.QuerySet:
    # Any change (a reply, the resolution, a survey) moves ``updated_at``: it is the last activity.
    return Ticket.objects.filter(updated_at__lt=cutoff).exclude(ticket_is_blank_q())


def _surveys(cutoff: datetime, action: str) -> models.QuerySet:
    rows = SurveyResponse.objects.filter(responded_at__lt=cutoff)
    return rows.exclude(comment="") if action == ANONYMISE else rows


KINDS: dict[str, _Kind] = {
    DataKind.INACTIVE_LEADS: _Kind(Lead, _inactive_leads, LEAD_BLANK),
    DataKind.LEAD_EVENTS: _Kind(
        LeadEvent, lambda cutoff, a: LeadEvent.objects.filter(occurred_at__lt=cutoff)
    ),
    DataKind.TICKETS: _Kind(Ticket, _tickets, TICKET_BLANK),
    DataKind.WEBHOOK_EVENTS: _Kind(
        WebhookEvent,
        lambda cutoff, a: WebhookEvent.objects.filter(received_at__lt=cutoff).exclude(
            status=InboundStatus.RECEIVED  # not yet applied: purging it would lose the change
        ),
    ),
    DataKind.EXECUTION_ATTEMPTS: _Kind(
        ExecutionAttempt,
        lambda cutoff, a: ExecutionAttempt.objects.filter(started_at__lt=cutoff).exclude(outcome="pending"),
    ),
    DataKind.BOT_RUNS: _Kind(BotRun, lambda cutoff, a: BotRun.objects.filter(created_at__lt=cutoff)),
    DataKind.SURVEY_RESPONSES: _Kind(SurveyResponse, _surveys, {"comment": ""}),
    DataKind.SESSIONS: _Kind(Session, lambda cutoff, a: Session.objects.filter(expire_date__lt=cutoff)),
}


def retention_purge(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int = 500
) -> dict[str, int]:
    """Apply every active retention policy; returns how many rows of each kind were (or, with
    ``dry_run``, would be) deleted or anonymised. Each batch is one transaction with its log entry."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    for policy in RetentionPolicy.objects.filter(is_active=True).order_by("kind"):
        kind = KINDS.get(policy.kind)
        if kind is None or policy.action not in ALLOWED_ACTIONS[policy.kind]:
            continue  # the admin refuses such a policy; one written around it is not applied
        cutoff = now - timedelta(days=policy.days)
        if dry_run:
            counts[policy.kind] = kind.expired(cutoff, policy.action).count()
            continue
        counts[policy.kind] = _purge_kind(policy, kind, cutoff, batch_size)
    return counts


def _purge_kind(policy: RetentionPolicy, kind: _Kind, cutoff: datetime, batch_size: int) -> int:
    done = 0
    after: object = None
    while True:
        with transaction.atomic():
            # Walk by primary key (a keyset, not an ever longer "not these ids"): a row that is purged
            # no longer matches, and one that did not change is never read twice.
            rows = kind.expired(cutoff, policy.action)
            if after is not None:
                rows = rows.filter(pk__gt=after)
            ids = list(rows.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return done
            after = ids[-1]
            if policy.action == DELETE:
                kind.model._default_manager.filter(pk__in=ids).delete()
                history_forget(kind.model, ids)
            else:
                assert kind.blank is not None
                # One UPDATE per batch through the ORM: the personal-data querysets keep encrypted
                # fields and their blind index in step on update() as on save().
                kind.model._default_manager.filter(pk__in=ids).update(**kind.blank)
                history_scrub(kind.model, ids, kind.blank)
            done += len(ids)
            decision_log_append(
                event_type=EventType.RETENTION_PURGED,
                actor=ACTOR,
                subject_type="retention_policy",
                subject_id=policy.pk,
                action_taken={
                    "kind": policy.kind,
                    "action": policy.action,
                    "days": policy.days,
                    "rows": len(ids),
                    "cutoff": cutoff.isoformat(),
                },
            )


__all__ = ["ALLOWED_ACTIONS", "KINDS", "retention_purge"]
