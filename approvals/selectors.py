from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    F,
    Max,
    Model,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Abs, Coalesce, Greatest
from django.utils import timezone

from approvals.choices import ActionStatus, DecisionOutcome, Domain, RejectionReason, RiskLevel
from approvals.models import Decision, EscalationStep, ProposedAction
from approvals.scoping import actions_decidable, actions_scoped
from approvals.states import OPEN_STATUSES
from security.selectors import user_scope


def actions_for_list(*, status: str = "", domain: str = "", user: Any = None) -> QuerySet[ProposedAction]:
    """Proposed actions for the list page with their targets joined in (no per-row queries); with
    ``user``, only those in the user's scope."""
    queryset = ProposedAction.objects.select_related("lead", "ticket", "model_version").defer(
        "model_version__artifact"
    )
    if user is not None:
        queryset = actions_scoped(user=user, queryset=queryset)
    if status:
        queryset = queryset.filter(status=status)
    if domain:
        queryset = queryset.filter(domain=domain)
    return queryset.order_by("sla_due_at", "-created_at", "-id")


def actions_open_count_by_domain(*, user: Any = None) -> dict[str, int]:
    """Open actions per domain; with ``user``, only those in the user's scope."""
    queryset = ProposedAction.objects.all() if user is None else actions_scoped(user=user)
    return dict(
        queryset.filter(status__in=OPEN_STATUSES).order_by().values_list("domain").annotate(n=Count("id"))
    )


# Windows of the queue's "SLA due" filter; "overdue" means the due time has passed.
SLA_WINDOWS = {"overdue": timedelta(0), "1h": timedelta(hours=1), "4h": timedelta(hours=4)}
# An item is "due soon" (amber) when its SLA runs out within this long.
SLA_DUE_SOON = timedelta(hours=1)
_HEAVY_MODEL_FIELDS = (
    "model_version__artifact",
    "model_version__reference",
    "model_version__validation_lead_ids",
)


def actions_visible_to(*, user: Any) -> QuerySet[ProposedAction]:
    """Actions in the user's scope (``security.roles``): their roles' domains, routed to one of their
    groups or to none unless a role oversees every route, narrowed to their SDR queues if any."""
    return actions_scoped(user=user)


def actions_queue(
    *,
    domain: str = "",
    user: Any = None,
    risk: str = "",
    sla: str = "",
    min_confidence: float | None = None,
    max_confidence: float | None = None,
    matched_rule: str = "",
    model_version_id: int | None = None,
    now: datetime | None = None,
) -> QuerySet[ProposedAction]:
    """Items waiting for a person, most urgent first: SLA due time, then impact, then uncertainty.

    Impact is the larger of the lead's deal value and its account's value; uncertainty is how close
    the agent's confidence is to a coin flip. Items without an SLA come after those with one. With
    ``user``, only items in the user's scope (``actions_visible_to``) are listed. ``sla`` is one
    of ``SLA_WINDOWS`` ("overdue", "1h", "4h": due within that long, overdue included).

    Each item carries ``sla_state`` ("overdue", "due_soon", "ok" or "none") and, if someone deferred
    it, ``deferred_by`` and ``deferred_at`` of the latest deferral, all in the same single query.
    """
    now = now or timezone.now()
    impact = Greatest(
        Coalesce("lead__deal_value", Value(Decimal(0))),
        Coalesce("lead__account__account_value", Value(Decimal(0))),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    uncertainty = Abs(F("confidence") - Value(0.5))
    deferrals = Decision.objects.filter(action=OuterRef("pk"), outcome=DecisionOutcome.DEFER).order_by(
        "-created_at", "-id"
    )
    queryset = (
        ProposedAction.objects.filter(status=ActionStatus.PENDING_APPROVAL)
        .select_related("lead__account", "ticket", "model_version", "approver_group")
        .defer(*_HEAVY_MODEL_FIELDS)
        .annotate(
            impact=impact,
            certainty=uncertainty,
            sla_state=_sla_state(now),
            deferred_by=Subquery(deferrals.values("decided_by__username")[:1]),
            deferred_at=Subquery(deferrals.values("created_at")[:1]),
        )
    )
    if domain:
        queryset = queryset.filter(domain=domain)
    if user is not None:
        queryset = actions_scoped(user=user, queryset=queryset)
    if risk:
        queryset = queryset.filter(risk_level=risk)
    if sla in SLA_WINDOWS:
        queryset = queryset.filter(sla_due_at__lt=now + SLA_WINDOWS[sla])
    if min_confidence is not None:
        queryset = queryset.filter(confidence__gte=min_confidence)
    if max_confidence is not None:
        queryset = queryset.filter(confidence__lte=max_confidence)
    if matched_rule:
        queryset = queryset.filter(matched_rule=matched_rule)
    if model_version_id is not None:
        queryset = queryset.filter(model_version_id=model_version_id)
    return queryset.order_by(F("sla_due_at").asc(nulls_last=True), "-impact", "certainty", "created_at", "id")


def actions_queue_slice(
    queryset: QuerySet[ProposedAction], *, offset: int, limit: int
) -> list[ProposedAction]:
    """Items ``offset`` to ``offset + limit`` of an ``actions_queue`` queryset, without sorting the queue.

    The queue is ordered by SLA due time first, so the wanted items all fall due no later than the
    item at position ``offset + limit - 1`` in SLA order alone. That due time comes cheaply from the
    SLA index; only the items up to it (ties included) are then joined and sorted in full. When the
    page reaches the items without an SLA, the whole queue is sorted as before.
    """
    boundary = (
        queryset.exclude(sla_due_at=None)
        .order_by("sla_due_at")
        .values_list("sla_due_at", flat=True)[offset + limit - 1 : offset + limit]
    )
    last = list(boundary)
    if last:
        queryset = queryset.filter(sla_due_at__lte=last[0])
    return list(queryset[offset : offset + limit])


def _sla_state(now: datetime) -> Case:
    return Case(
        When(sla_due_at__isnull=True, then=Value("none")),
        When(sla_due_at__lt=now, then=Value("overdue")),
        When(sla_due_at__lt=now + SLA_DUE_SOON, then=Value("due_soon")),
        default=Value("ok"),
        output_field=CharField(),
    )


@dataclass(frozen=True)
class QueueCounts:
    """How much is waiting for a user, for the queue's filter chips and badges."""

    total: int
    overdue: int
    due_soon: int
    by_domain: dict[str, int]
    by_risk: dict[str, int]


@dataclass(frozen=True)
class QueueFilterChoices:
    rules: list[str]
    model_versions: list[tuple[int, str]]


# Filters a facet row can answer by itself; the confidence range needs the items.
_FACET_FILTERS = ("domain", "risk", "matched_rule", "model_version_id", "sla")


@dataclass(frozen=True)
class QueueFacets:
    """The user's whole queue grouped by what it is filtered on, from one aggregate query.

    Counts, the filters' choices and the size of most filtered views are read off these groups,
    so the queue page never counts its items twice.
    """

    rows: list[dict[str, Any]]
    versions: dict[int, str]

    @property
    def counts(self) -> QueueCounts:
        return QueueCounts(
            total=sum(r["n"] for r in self.rows),
            overdue=sum(r["overdue"] for r in self.rows),
            due_soon=sum(r["due_soon"] for r in self.rows),
            by_domain={d: sum(r["n"] for r in self.rows if r["domain"] == d) for d in Domain.values},
            by_risk={k: sum(r["n"] for r in self.rows if r["risk_level"] == k) for k in RiskLevel.values},
        )

    @property
    def choices(self) -> QueueFilterChoices:
        return QueueFilterChoices(
            rules=sorted({r["matched_rule"] for r in self.rows if r["matched_rule"]}),
            model_versions=sorted(self.versions.items(), key=lambda item: item[1]),
        )

    def count(self, **filters: Any) -> int | None:
        """Items matching ``filters`` (as ``actions_queue`` takes them), or None if the groups can't tell."""
        if any(v not in ("", None) for k, v in filters.items() if k not in _FACET_FILTERS):
            return None
        sla_column = {"overdue": "overdue", "1h": "within_1h", "4h": "within_4h"}.get(
            filters.get("sla") or "", "n"
        )
        return sum(
            r[sla_column]
            for r in self.rows
            if (not filters.get("domain") or r["domain"] == filters["domain"])
            and (not filters.get("risk") or r["risk_level"] == filters["risk"])
            and (not filters.get("matched_rule") or r["matched_rule"] == filters["matched_rule"])
            and (
                filters.get("model_version_id") is None
                or r["model_version_id"] == filters["model_version_id"]
            )
        )


def actions_queue_facets(*, user: Any, now: datetime | None = None) -> QueueFacets:
    """The user's pending items grouped by team, risk, rule and model, with SLA counts: one query."""
    now = now or timezone.now()
    rows = list(
        actions_visible_to(user=user)
        .filter(status=ActionStatus.PENDING_APPROVAL)
        .order_by()
        .values("domain", "risk_level", "matched_rule", "model_version_id")
        .annotate(
            # Counting indexed columns (not the id) lets the database answer from the index alone.
            n=Count("status"),
            overdue=Count("sla_due_at", filter=Q(sla_due_at__lt=now)),
            due_soon=Count("sla_due_at", filter=Q(sla_due_at__gte=now, sla_due_at__lt=now + SLA_DUE_SOON)),
            within_1h=Count("sla_due_at", filter=Q(sla_due_at__lt=now + SLA_WINDOWS["1h"])),
            within_4h=Count("sla_due_at", filter=Q(sla_due_at__lt=now + SLA_WINDOWS["4h"])),
        )
    )
    version_ids = {r["model_version_id"] for r in rows if r["model_version_id"] is not None}
    # The model registry is scoring's; approvals reads the labels through the action's relation to it.
    versions_of = cast("type[Model]", ProposedAction._meta.get_field("model_version").related_model)
    versions = {
        pk: f"{kind}:{name}:v{number}"
        for pk, kind, name, number in versions_of._default_manager.filter(pk__in=version_ids).values_list(
            "pk", "kind", "name", "version"
        )
    }
    return QueueFacets(rows=rows, versions=versions)


def actions_queue_facets_cached(*, user: Any, now: datetime | None = None) -> QueueFacets:
    """``actions_queue_facets``, reused while no action has changed (for at most a few seconds).

    The cache key holds the newest ``updated_at`` of any action, so a proposal, decision or
    escalation anywhere is seen by the next request. Only the SLA counts can lag, by at most
    ``APPROVAL_QUEUE_FACETS_SECONDS`` (0 turns the cache off), as items cross their due time.
    """
    seconds = settings.APPROVAL_QUEUE_FACETS_SECONDS
    now = now or timezone.now()
    if seconds <= 0:
        return actions_queue_facets(user=user, now=now)
    latest = ProposedAction.objects.aggregate(latest=Max("updated_at"))["latest"]
    scope = user_scope(user=user)
    # Everything the scope depends on: two users with the same groups and SDR queues share counts.
    groups = (
        ",".join(str(pk) for pk in sorted(scope.group_ids))
        + ("|su" if scope.access.superuser else "")
        + ("" if scope.teams is None else "|q" + ",".join(str(pk) for pk in sorted(scope.teams.ids)))
    )
    key = f"approvals:queue-facets:{groups}:{latest.isoformat() if latest else '-'}:{int(now.timestamp()) // seconds}"
    facets = cache.get(key)
    if facets is None:
        facets = actions_queue_facets(user=user, now=now)
        cache.set(key, facets, seconds * 2)
    return facets


def actions_escalated_from(*, user: Any, limit: int = 10) -> list[ProposedAction]:
    """Pending items escalated away from the user's groups up the ladder, to groups the user is not in.

    The user may no longer decide them, but sees that they went over their SLA and who holds them now.
    """
    groups = user.groups.all()
    return list(
        ProposedAction.objects.filter(
            status=ActionStatus.PENDING_APPROVAL,
            escalation_level__gt=0,
            approver_group__in=EscalationStep.objects.filter(group__in=groups).values("escalate_to"),
        )
        .exclude(approver_group__in=groups)
        .select_related("lead", "ticket", "approver_group")
        .order_by("sla_due_at", "id")[:limit]
    )


def actions_for_detail(*, user: Any) -> QuerySet[ProposedAction]:
    """The actions ``user`` may open, with everything the detail page shows joined in."""
    return (
        actions_visible_to(user=user)
        .select_related(
            "lead__account", "lead__owner", "ticket__account", "model_version", "approver_group", "edited_by"
        )
        .defer(*_HEAVY_MODEL_FIELDS)
    )


def action_record_history(*, action: ProposedAction, limit: int = 20) -> list[ProposedAction]:
    """All actions on the same lead or ticket (this one included), newest first, each with its decisions
    and their deciders prefetched: two queries whatever the history's length."""
    if action.lead_id is not None:
        queryset = ProposedAction.objects.filter(lead_id=action.lead_id)
    elif action.ticket_id is not None:
        queryset = ProposedAction.objects.filter(ticket_id=action.ticket_id)
    else:
        queryset = ProposedAction.objects.filter(pk=action.pk)
    return list(
        queryset.prefetch_related(
            Prefetch(
                "decisions",
                queryset=Decision.objects.select_related("decided_by").order_by("created_at", "id"),
            )
        ).order_by("-created_at", "-id")[:limit]
    )


@dataclass
class FeedbackRow:
    """How people judged one rule's proposals made with one model version."""

    matched_rule: str
    model_version: str
    decisions: int
    approved: int
    edited: int
    rejected: int
    top_rejection_reasons: list[tuple[str, int]] = field(default_factory=list)

    @property
    def override_rate(self) -> float:
        """Share of decisions where a person changed or refused what the agent proposed."""
        return (self.edited + self.rejected) / self.decisions if self.decisions else 0.0


def actions_for_bulk_confirmation(*, user: Any, action_ids: Sequence[int]) -> list[ProposedAction]:
    """The ticked items a bulk approval would approve: pending, low risk, and decidable by ``user``
    (``actions_bulk_approve`` refuses the rest item by item), with their lead or ticket."""
    return list(
        actions_decidable(user=user)
        .filter(pk__in=list(action_ids), status=ActionStatus.PENDING_APPROVAL, risk_level=RiskLevel.LOW)
        .select_related("lead", "ticket")
        .order_by("pk")
    )


def bulk_approvals_count() -> int:
    """How many approvals were given in bulk (left out of the feedback statistics)."""
    return Decision.objects.filter(bulk=True).count()


def feedback_by_rule_and_model(*, top_reasons: int = 3) -> list[FeedbackRow]:
    """Human decisions per (matched rule, model version): counts, override rate and the top rejection
    reasons, highest override rate first. Two queries whatever the number of decisions.

    Only people's approve / edit / reject decisions count: deferrals decide nothing, and neither the
    policy's own decisions (no ``decided_by``) nor bulk approvals (many ticked at once, none of them
    read on its own) say anything about the agent's judgement.
    """
    human = Decision.objects.filter(
        decided_by__isnull=False,
        bulk=False,
        outcome__in=[DecisionOutcome.APPROVE, DecisionOutcome.EDIT_APPROVE, DecisionOutcome.REJECT],
    ).order_by()
    rows = {
        (r["action__matched_rule"], r["model_version"]): FeedbackRow(
            matched_rule=r["action__matched_rule"],
            model_version=r["model_version"],
            decisions=r["decisions"],
            approved=r["approved"],
            edited=r["edited"],
            rejected=r["rejected"],
        )
        for r in human.values("action__matched_rule", "model_version").annotate(
            decisions=Count("id"),
            approved=Count("id", filter=Q(outcome=DecisionOutcome.APPROVE)),
            edited=Count("id", filter=Q(outcome=DecisionOutcome.EDIT_APPROVE)),
            rejected=Count("id", filter=Q(outcome=DecisionOutcome.REJECT)),
        )
    }
    labels = dict(RejectionReason.choices)
    reasons = (
        human.filter(outcome=DecisionOutcome.REJECT)
        .values_list("action__matched_rule", "model_version", "reason_code")
        .annotate(n=Count("id"))
        .order_by("-n", "reason_code")
    )
    for rule, version, code, n in reasons:
        row = rows[(rule, version)]
        if len(row.top_rejection_reasons) < top_reasons:
            row.top_rejection_reasons.append((labels.get(code, code), n))
    return sorted(
        rows.values(), key=lambda r: (-r.override_rate, -r.decisions, r.matched_rule, r.model_version)
    )
