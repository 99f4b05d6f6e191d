"""Reads for the support pages (HackSoft-style selectors)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from approvals.choices import ActionKind, ActionStatus
from approvals.models import ProposedAction
from approvals.selectors import actions_visible_to
from scoring.choices import ModelKind, ModelStatus
from scoring.models import ModelVersion
from security.selectors import user_scope
from support.choices import ArticleStatus, BotOutcome, TicketState
from support.handoff import HandoffRule
from support.metrics import (
    Figures,
    MetricRow,
    TicketFacts,
    by_day,
    by_intent,
    figure_cells,
    metric_rows,
    total,
)
from support.models import (
    Article,
    HandoffRoute,
    IntentCorrection,
    IntentPolicy,
    SupportSettings,
    Ticket,
)
from support.scoping import tickets_scoped


def intent_version_holdout() -> ModelVersion | None:
    """The champion intent model, else the newest one (thresholds are set before a promotion too),
    with its stored hold-out predictions and without its artifact; one query."""
    is_champion = ExpressionWrapper(Q(status=ModelStatus.CHAMPION), output_field=BooleanField())
    return (
        ModelVersion.objects.filter(kind=ModelKind.INTENT)
        .annotate(is_champion=is_champion)
        .order_by("-is_champion", "-version")
        .only("id", "kind", "name", "version", "status", "reference", "preprocessing", "metrics")
        .first()
    )


def intent_policies() -> list[IntentPolicy]:
    return list(IntentPolicy.objects.order_by("intent"))


#: What the bot's read-only account lookup reads from the local mirror of the customer's account
#: (``sales.Account``, kept in step with the CRM by the connectors): the name, and the plan and
#: billing status when the CRM provides them. Nothing here writes.
LOOKUP_ATTRIBUTES = ("plan", "billing_status", "seats")


def account_lookup_read(*, account_id: int) -> dict[str, str]:
    """The account facts the bot may use in a reply (read-only; absent facts are left out)."""
    from sales.models import Account

    account = Account.objects.only("name", "attributes").get(pk=account_id)
    found = {"account_name": account.name}
    for name in LOOKUP_ATTRIBUTES:
        value = (account.attributes or {}).get(name)
        if value not in (None, ""):
            found[name] = str(value)
    return found


def handoff_rules() -> list[HandoffRule]:
    """The active handoff routes (``support.handoff``), read once per bot run."""
    return [
        HandoffRule(
            name=r.name,
            group=r.group,
            queue=r.queue,
            intent=r.intent,
            source=r.source,
            team=r.team,
            language=r.language,
            assignee=r.assignee,
            priority=r.priority,
            tags=tuple(str(t) for t in r.tags or []),
            order=r.order,
        )
        for r in HandoffRoute.objects.filter(is_active=True)
    ]


def published_articles(intents: list[str]) -> dict[str, Article]:
    """The published article version of each intent that has one, with its fragments (two queries)."""
    articles = Article.objects.filter(intent__in=intents, status=ArticleStatus.PUBLISHED).prefetch_related(
        "fragments"
    )
    return {article.intent: article for article in articles}


def tickets_with_requester_email(*, email: str) -> QuerySet[Ticket]:
    """Tickets whose requester's email is ``email`` (case and surrounding spaces ignored): through
    the blind index when the address is encrypted at rest, else a plain case-insensitive match."""
    address = (email or "").strip()
    if not address:
        return Ticket.objects.none()
    if any(f.name == "requester_email_index" for f in Ticket._meta.get_fields()):
        from security.crypto import blind_index

        return Ticket.objects.filter(requester_email_index=blind_index(address))
    return Ticket.objects.filter(requester_email__iexact=address)


#: Tickets imported as intent training data (BANKING77 queries): not support work.
TRAINING_SOURCE = "banking77"


def _opened_tickets() -> QuerySet[Ticket]:
    """Tickets with their opening time; the imported BANKING77 training queries are not support work."""
    return (
        Ticket.objects.exclude(source=TRAINING_SOURCE)
        .annotate(opened=Coalesce("source_created_at", "created_at"))
        .order_by()
    )


def ticket_facts(*, ranges: Sequence[tuple[date, date]]) -> list[TicketFacts]:
    """What the metrics need of each ticket opened on a day in one of ``ranges`` (first and last day,
    inclusive, in the site's time zone); one query."""
    opened = Q(pk__in=[])
    for first, last in ranges:
        opened |= Q(opened__gte=_midnight(first), opened__lt=_midnight(last + timedelta(days=1)))
    rows = _opened_tickets().filter(opened).values_list(*_FACT_FIELDS)
    return [_facts(row) for row in rows]


def ticket_facts_since(start: datetime) -> tuple[list[TicketFacts], timedelta]:
    """The facts of tickets opened since ``start`` and the follow-up window, in one query (the KPIs)."""
    window = Subquery(SupportSettings.objects.order_by("pk").values("followup_window_hours")[:1])
    rows = list(
        _opened_tickets()
        .filter(Q(opened__gte=start))
        .annotate(window=window)
        .values_list(*_FACT_FIELDS, "window")
    )
    hours = next((row[-1] for row in rows if row[-1] is not None), DEFAULT_FOLLOWUP_HOURS)
    return [_facts(row) for row in rows], timedelta(hours=hours)


DEFAULT_FOLLOWUP_HOURS = 24
_FACT_FIELDS = (
    "opened", "predicted_intent", "intent_label", "escalated_at", "resolved_at", "resolved_by", "followup_at",
    "survey__score",
)  # fmt: skip


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(0, 0)))


def _facts(row: Sequence[Any]) -> TicketFacts:
    opened, predicted, label, escalated_at, resolved_at, resolved_by, followup_at, score = row[:8]
    return TicketFacts(
        opened_on=timezone.localtime(opened).date(),
        intent=predicted or label,
        escalated=escalated_at is not None,
        resolved_at=resolved_at,
        resolved_by=resolved_by,
        handle_seconds=max((resolved_at - opened).total_seconds(), 0.0) if resolved_at else None,
        followup_at=followup_at,
        csat=score,
    )


@dataclass(frozen=True)
class MetricsPage:
    first: date
    last: date
    baseline: tuple[date, date] | None
    window_hours: int
    rows: list[MetricRow]
    intents: list[tuple[str, int, list[str]]]  # intent, tickets, each metric for display
    period: Figures


def support_metrics_page(*, days: int, today: date | None = None) -> MetricsPage:
    """The support metrics over the last ``days`` days against the baseline period (two queries)."""
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    settings_row = SupportSettings.current()
    window = timedelta(hours=settings_row.followup_window_hours)
    baseline = (
        (settings_row.baseline_start, settings_row.baseline_end)
        if settings_row.baseline_start and settings_row.baseline_end
        else None
    )
    facts = ticket_facts(ranges=[(first, today), *([baseline] if baseline else [])])
    in_period = [f for f in facts if first <= f.opened_on <= today]
    period = total(in_period, window)
    before = (
        total([f for f in facts if baseline[0] <= f.opened_on <= baseline[1]], window) if baseline else None
    )
    span = [first + timedelta(days=offset) for offset in range(days)]
    return MetricsPage(
        first=first,
        last=today,
        baseline=baseline,
        window_hours=settings_row.followup_window_hours,
        rows=metric_rows(period=period, baseline=before, daily=by_day(in_period, window), days=span),
        intents=[
            (intent, figures.tickets, figure_cells(figures))
            for intent, figures in by_intent(in_period, window).items()
        ],
        period=period,
    )


# --- The support lead's workspace: the ticket list and a ticket's page -----------------------------


def _ticket_state() -> Case:
    """A ticket's ``TicketState``: the first that holds, in the order of ``TicketState``."""
    waiting = ProposedAction.objects.filter(ticket=OuterRef("pk"), status=ActionStatus.PENDING_APPROVAL)
    return Case(
        When(Exists(waiting), then=Value(TicketState.WAITING)),
        When(followup_at__isnull=False, then=Value(TicketState.REOPENED)),
        When(
            Q(bot_run__outcome=BotOutcome.HANDED_OFF) | Q(escalated_at__isnull=False),
            then=Value(TicketState.HANDED_OFF),
        ),
        When(
            Q(bot_run__outcome__in=[BotOutcome.ANSWERED, BotOutcome.ASKED]),
            then=Value(TicketState.ANSWERED),
        ),
        default=Value(TicketState.NOT_SEEN),
        output_field=CharField(),
    )


def _workspace_tickets(*, user: Any) -> QuerySet[Any]:
    """The support tickets ``user`` may see (``support.scoping``), each with its ``state`` and
    ``opened`` (typed loosely: the type checker does not follow the annotations)."""
    return (
        tickets_scoped(user=user)
        .exclude(source=TRAINING_SOURCE)
        .annotate(state=_ticket_state(), opened=Coalesce("source_created_at", "created_at"))
    )


@dataclass(frozen=True)
class TicketFacets:
    """The ticket list's counts per state, and the intents and helpdesks it can be filtered by."""

    total: int
    by_state: dict[str, int]
    intents: list[str]
    sources: frozenset[str]


def tickets_workspace_facets(*, user: Any) -> TicketFacets:
    """How many tickets ``user`` sees in each state, and the predicted intents and helpdesks among
    them: one grouped query, whatever the number of tickets."""
    rows = (
        _workspace_tickets(user=user)
        .order_by()
        .values_list("state", "predicted_intent", "source")
        .annotate(n=Count("pk"))
    )
    by_state = dict.fromkeys(TicketState.values, 0)
    intents: set[str] = set()
    sources: set[str] = set()
    for state, intent, source, n in rows:
        by_state[state] += n
        sources.add(source)
        if intent:
            intents.add(intent)
    return TicketFacets(
        total=sum(by_state.values()), by_state=by_state, intents=sorted(intents), sources=frozenset(sources)
    )


def tickets_workspace(
    *, user: Any, state: str = "", intent: str = "", source: str = "", search: str = ""
) -> QuerySet[Ticket]:
    """The tickets ``user`` may see, newest first, each with its ``state``, narrowed by state,
    predicted intent, helpdesk and words of the subject (all of them, any case); with the bot's run
    joined in, so a page of them is one query."""
    tickets = _workspace_tickets(user=user).select_related("bot_run")
    if state:
        tickets = tickets.filter(state=state)
    if intent:
        tickets = tickets.filter(predicted_intent=intent)
    if source:
        tickets = tickets.filter(source=source)
    for word in search.split()[:8]:
        tickets = tickets.filter(Q(subject__icontains=word) | Q(external_id=word))
    return tickets.defer("body", "bot_run__summary").order_by("-opened", "-id")


@dataclass
class TicketWorkspace:
    """One ticket's page: the ticket with its state and bot run, the actions on it the user may
    see (newest first, decisions prefetched), its intent corrections, and the intents to choose from."""

    ticket: Ticket
    actions: list[ProposedAction]
    corrections: list[IntentCorrection]
    intents: list[str]


def ticket_workspace(*, user: Any, ticket_id: int) -> TicketWorkspace | None:
    """The ticket's page for ``user``, or None when they may not see it; five queries whatever the
    ticket's history."""
    ticket = (
        _workspace_tickets(user=user)
        .select_related("bot_run__article", "account")
        .filter(pk=ticket_id)
        .first()
    )
    if ticket is None:
        return None
    actions = list(
        actions_visible_to(user=user)
        .filter(ticket_id=ticket.pk)
        .select_related("approver_group")
        .prefetch_related("decisions__decided_by")
        .order_by("-created_at", "-id")
    )
    corrections = list(ticket.intent_corrections.select_related("corrected_by"))
    return TicketWorkspace(ticket=ticket, actions=actions, corrections=corrections, intents=intent_classes())


def intent_classes() -> list[str]:
    """The intents a ticket may be labelled with: the classes of the champion intent model (else the
    newest version), read from its stored preprocessing without its artifact; without any model,
    the intents that have a policy."""
    is_champion = ExpressionWrapper(Q(status=ModelStatus.CHAMPION), output_field=BooleanField())
    preprocessing = (
        ModelVersion.objects.filter(kind=ModelKind.INTENT)
        .annotate(is_champion=is_champion)
        .order_by("-is_champion", "-version")
        .values_list("preprocessing", flat=True)
        .first()
    )
    intents = (preprocessing or {}).get("intents") or []
    if intents:
        return sorted(str(i) for i in intents)
    return list(IntentPolicy.objects.order_by("intent").values_list("intent", flat=True))


def ticket_reply_pending(*, ticket_id: int) -> ProposedAction | None:
    """The customer-facing reply on the ticket that waits for a person, if any (the newest)."""
    return (
        ProposedAction.objects.filter(
            ticket_id=ticket_id, kind=ActionKind.POST_PUBLIC_REPLY, status=ActionStatus.PENDING_APPROVAL
        )
        .order_by("-created_at", "-id")
        .first()
    )


def action_decidable_by(*, user: Any, action: ProposedAction) -> bool:
    """Whether ``user`` may decide ``action`` (``security.roles``: its domain, and routed to one of
    their groups or to none unless they oversee every route)."""
    scope = user_scope(user=user)
    routed_to_mine = action.approver_group_id is None or action.approver_group_id in scope.group_ids
    return scope.access.may_decide(domain=action.domain, routed_to_mine=routed_to_mine)


def intent_correction_examples() -> list[tuple[str, str]]:
    """What support leads taught the intent model: (the ticket's text, the intent they chose) for
    each corrected ticket, its newest correction only; tickets whose text was erased are left out.
    The intent training reads this through ``scoring.intent_services.intent_examples_register``."""
    newest: dict[int, tuple[str, str]] = {}
    rows = IntentCorrection.objects.select_related("ticket").only("ticket_id", "corrected", "ticket__body")
    for correction in rows.order_by("ticket_id", "-created_at", "-id"):
        if correction.ticket_id not in newest:
            newest[correction.ticket_id] = (correction.ticket.body.strip(), correction.corrected)
    return [pair for pair in newest.values() if pair[0]]
