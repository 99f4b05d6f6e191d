from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from approvals.choices import ActionKind, ActionStatus, Domain, RiskLevel
from approvals.models import ProposedAction
from approvals.services import (
    DuplicateProposal,
    Settled,
    action_propose,
    action_route,
    actions_settle_many,
)
from audit.choices import EventType
from audit.services import decision_log_append
from core.upsert import BatchOutcome, natural_key_upsert, validate_batch
from sales.templating import parse
from scoring.choices import ModelKind, ModelStatus
from scoring.intent import IntentModel, Prediction
from scoring.intent_models import intent_model
from scoring.models import ModelVersion
from support.bot import (
    ANSWER,
    ASK,
    HANDOFF,
    LOOKUP,
    MERGE_FIELDS,
    SUMMARY_LIMIT,
    ArticleView,
    BotDecision,
    BotInput,
    PolicyView,
    TemplateError,
    decide,
    draft,
    handoff_summary,
    summary_text,
)
from support.choices import ArticleStatus, BotOutcome, FragmentKey, ResolvedBy, TicketStatus
from support.diagnostics import read_answers
from support.handoff import HandoffRule, handoff_route
from support.helpdesk_events import CREATED, RATED, REQUESTER_MESSAGE, RESOLVED, TicketEvent, classify
from support.models import Article, BotRun, IntentPolicy, SupportSettings, SurveyResponse, Ticket
from support.selectors import account_lookup_read, handoff_rules, published_articles
from support.ticket_rows import TICKET_FIELDS, WRITABLE_FIELDS

logger = logging.getLogger(__name__)


def ticket_bulk_upsert(*, rows: Sequence[Any], actor: str, atomic: bool = True) -> BatchOutcome:
    """Upsert tickets by ``(source, external_id)``; same contract as ``lead_bulk_upsert``."""
    clean, errors = validate_batch(rows, TICKET_FIELDS, required=("source", "external_id", "body"))
    if errors and atomic:
        return BatchOutcome(errors=errors)
    with transaction.atomic():
        result = natural_key_upsert(model=Ticket, rows=clean, writable_fields=WRITABLE_FIELDS)
        if result.count("created") or result.count("updated"):
            decision_log_append(
                event_type=EventType.TICKETS_UPSERTED,
                actor=actor,
                subject_type="ticket_batch",
                input_context={"rows": len(rows), "sources": sorted({r.key[0] for r in clean})},
                action_taken={**result.summary, "rejected": len(errors)},
            )
    return BatchOutcome(errors=errors, result=result)


# --- Knowledge base ------------------------------------------------------------------------------


class ArticleError(Exception):
    """An article version cannot be published; the message says why."""


def article_publish(*, article_id: int) -> Article:
    """Publish a draft article version: the intent's previously published version is retired in the same
    transaction, so the bot always sees exactly one. Its fragments must render (known merge fields)."""
    with transaction.atomic():
        article = Article.objects.select_for_update().get(pk=article_id)
        if article.status != ArticleStatus.DRAFT:
            raise ArticleError(f"{article.label}: only a draft can be published (it is {article.status})")
        fragments = {f.key: f.text for f in article.fragments.all()}
        if FragmentKey.REPLY not in fragments:
            raise ArticleError(f"{article.label}: has no reply fragment")
        if article.diagnostics and FragmentKey.QUESTIONS not in fragments:
            raise ArticleError(f"{article.label}: needs diagnostics but has no questions fragment")
        for key, text in fragments.items():
            try:
                parse(text, MERGE_FIELDS)
            except TemplateError as exc:
                raise ArticleError(f"{article.label} {key} fragment: {exc}") from None
        for previous in Article.objects.select_for_update().filter(
            intent=article.intent, status=ArticleStatus.PUBLISHED
        ):
            previous.status = ArticleStatus.RETIRED
            previous.save(update_fields=["status", "updated_at"])
        article.status = ArticleStatus.PUBLISHED
        article.published_at = timezone.now()
        article.save(update_fields=["status", "published_at", "updated_at"])
    return article


# --- The support bot -----------------------------------------------------------------------------

BOT_ACTOR = "support-bot"


@dataclass
class BotRunSummary:
    model_version: str | None
    tickets: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def support_bot_run(*, ticket_ids: Sequence[int] | None = None, limit: int | None = None) -> BotRunSummary:
    """Run the bot over new tickets it has not seen (each ticket once: running it again does nothing),
    and a second time over a ticket it asked diagnostic questions once the customer has answered
    (``tickets_helpdesk_events_apply`` marks it ``second_pass_due``).

    Classifies with the champion intent model (none → every ticket is handed off), then answers from
    the published knowledge base, reads the account, asks for diagnostics or hands off, as
    ``support.bot.decide`` says. Every write is a proposed action routed through the approval policy.
    """
    # The artifact (~24 MB) is read only when this process has not loaded the model yet.
    version = (
        ModelVersion.objects.filter(kind=ModelKind.INTENT, status=ModelStatus.CHAMPION)
        .defer("artifact", "reference")
        .first()
    )
    label = version.label if version is not None else None
    # New tickets it has not seen, and tickets whose customer answered its diagnostic questions.
    first_pass = Q(status=TicketStatus.NEW, bot_run__isnull=True)
    second_pass = Q(bot_run__outcome=BotOutcome.ASKED, attributes__second_pass_due=True)
    tickets = Ticket.objects.filter(first_pass | second_pass).order_by("pk")
    if ticket_ids is not None:
        tickets = tickets.filter(pk__in=list(ticket_ids))
    batch = list(tickets[:limit] if limit else tickets)
    summary = BotRunSummary(model_version=label)
    if not batch:
        return summary
    model = intent_model(version) if version is not None else None
    predictions = model.predict([t.body for t in batch]) if model is not None else []
    intents = sorted({p.intent for p in predictions})
    policies = {p.intent: p for p in IntentPolicy.objects.filter(intent__in=intents)}
    articles = published_articles(intents)
    settings_row = SupportSettings.current()
    routes = handoff_rules()
    for position, ticket in enumerate(batch):
        prediction = predictions[position] if predictions else None
        run = _ticket_handle(
            ticket_id=ticket.pk,
            version=version,
            model=model,
            prediction=prediction,
            policy=policies.get(prediction.intent) if prediction else None,
            article=articles.get(prediction.intent) if prediction else None,
            queue=settings_row.handoff_queue,
            routes=routes,
        )
        if run is not None:
            summary.tickets += 1
            summary.outcomes[run.outcome] = summary.outcomes.get(run.outcome, 0) + 1
    return summary


def _policy_view(policy: IntentPolicy | None) -> PolicyView | None:
    if policy is None:
        return None
    return PolicyView(policy.threshold, policy.is_safe, policy.requires_human)


def _article_view(article: Article | None) -> ArticleView | None:
    if article is None:
        return None
    fragments = {f.key: f.text for f in article.fragments.all()}
    return ArticleView(
        label=article.label,
        reply=fragments.get(FragmentKey.REPLY, ""),
        questions=fragments.get(FragmentKey.QUESTIONS, ""),
        diagnostics=tuple(article.diagnostics or ()),
        needs_account_lookup=article.needs_account_lookup,
    )


def _merge_values(ticket: Ticket, given: BotInput) -> dict[str, object]:
    name = ticket.requester_name.strip()
    return {
        "first_name": name.split()[0] if name else "",
        "requester_name": name,
        "ticket_ref": ticket.external_id,
        **dict(given.lookup or {}),
        **dict(given.diagnostics),
    }


def _route_fields(route: HandoffRule | None) -> dict[str, Any]:
    """The handoff payload's group, priority and tags from its route (none without one)."""
    if route is None:
        return {}
    fields: dict[str, Any] = {"group": route.group}
    if route.assignee:
        fields["assignee"] = route.assignee
    if route.priority:
        fields["priority"] = route.priority
    if route.tags:
        fields["tags"] = list(route.tags)
    return fields


def _ticket_handle(
    *,
    ticket_id: int,
    version: ModelVersion | None,
    model: IntentModel | None,
    prediction: Prediction | None,
    policy: IntentPolicy | None,
    article: Article | None,
    queue: str,
    routes: Sequence[HandoffRule] = (),
) -> BotRun | None:
    """Decide and propose for one ticket, in one transaction with the ticket locked; None if another
    run handled it first."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        earlier = BotRun.objects.filter(ticket=ticket).first()
        second_pass = (
            earlier is not None
            and earlier.outcome == BotOutcome.ASKED
            and bool(ticket.attributes.get("second_pass_due"))
        )
        if earlier is not None and not second_pass:
            return None
        label = version.label if version is not None else None
        step_key = f"support-bot:ticket-{ticket.pk}:{label or 'no-model'}"
        given = BotInput(
            model_version=label,
            intent=prediction.intent if prediction else "",
            confidence=prediction.confidence if prediction else 0.0,
            policy=_policy_view(policy),
            article=_article_view(article),
            diagnostics={k: str(v) for k, v in (ticket.attributes.get("diagnostics") or {}).items()},
            asked=bool(ticket.attributes.get("diagnostics_requested")),
            has_account=ticket.account_id is not None,
        )
        decision = decide(given)
        propose = _Proposer(ticket=ticket, version=version, confidence=given.confidence, key=step_key)
        if decision.step == LOOKUP:
            given = replace(given, **_lookup(propose, ticket))
            decision = decide(given)
        body = ""
        if decision.step in (ANSWER, ASK) and given.article is not None:
            template = given.article.reply if decision.step == ANSWER else given.article.questions
            try:
                body = draft(template, _merge_values(ticket, given))
            except TemplateError as exc:
                decision = BotDecision(
                    HANDOFF,
                    (*decision.reasons, f"reply could not be drafted from {given.article.label}: {exc}"),
                )
        words = model.explain(ticket.body).top_words(5) if model is not None else []
        suggested = body if decision.step == ANSWER else _suggestion(ticket, given)
        summary = handoff_summary(
            given=given, decision=decision, asked=ticket.body, words=words, suggested_reply=suggested
        )
        article_label = given.article.label if given.article else ""
        now = timezone.now()
        if decision.step == ANSWER:
            action = propose(
                ActionKind.POST_PUBLIC_REPLY,
                "reply",
                {"ticket": ticket.external_id, "body": body},
                f"Reply drafted from {article_label} (published); {'; '.join(decision.reasons)}.",
                RiskLevel.LOW,
            )
            if action.status == ActionStatus.APPROVED:  # the approval policy lets it go out on its own
                ticket.resolved_at, ticket.resolved_by = now, ResolvedBy.BOT
            outcome = BotOutcome.ANSWERED
        elif decision.step == ASK:
            propose(
                ActionKind.POST_PUBLIC_REPLY,
                "ask",
                {"ticket": ticket.external_id, "body": body},
                f"Diagnostic questions from {article_label}: {', '.join(decision.missing)} missing.",
                RiskLevel.LOW,
            )
            ticket.attributes = {**ticket.attributes, "diagnostics_requested": list(decision.missing)}
            outcome = BotOutcome.ASKED
        else:
            text = summary_text(summary)
            route = handoff_route(
                routes,
                intent=given.intent,
                source=ticket.source,
                team=str(ticket.attributes.get("team") or ""),
                language=str(ticket.attributes.get("language") or ""),
            )
            queue = route.queue if route is not None and route.queue else queue
            # One action moves the ticket to its group and leaves the summary as a note only the
            # agents see, so whoever picks it up in the helpdesk reads it at once. It writes nothing
            # the customer sees: low risk, even for a human-only intent (its reply is what waits).
            propose(
                ActionKind.HANDOFF_TO_HUMAN,
                "handoff",
                {
                    "ticket": ticket.external_id,
                    "summary": f"Handed off to {queue} by the support bot.\n{text}"[:SUMMARY_LIMIT],
                    "queue": queue,
                    **_route_fields(route),
                },
                f"Handoff to {queue}.\n{text}",
                RiskLevel.LOW,
            )
            ticket.escalated_at = ticket.escalated_at or now
            ticket.assigned_group = queue[:100]
            outcome = BotOutcome.HANDED_OFF
        if prediction is not None:
            ticket.predicted_intent, ticket.intent_confidence = prediction.intent, prediction.confidence
        if second_pass:
            attributes = {k: v for k, v in ticket.attributes.items() if k != "second_pass_due"}
            ticket.attributes = {**attributes, "bot_passes": 2}
        ticket.save(
            update_fields=[
                "predicted_intent", "intent_confidence", "attributes", "resolved_at", "resolved_by",
                "escalated_at", "assigned_group", "updated_at",
            ]
        )  # fmt: skip
        values = {
            "model_version": version,
            "outcome": outcome,
            "intent": given.intent,
            "confidence": prediction.confidence if prediction else None,
            "article": article if given.article is not None else None,
            "reasons": list(decision.reasons),
            "summary": summary,
            "actions": propose.ids,
        }
        if earlier is None:
            return BotRun.objects.create(ticket=ticket, **values)
        # The second pass: one run per ticket, which keeps what the first pass did.
        first_reasons: list[str] = list(earlier.reasons)
        first_actions: list[int] = list(earlier.actions)
        values["reasons"] = [*first_reasons, *decision.reasons]
        values["actions"] = [*first_actions, *[i for i in propose.ids if i not in first_actions]]
        values["summary"] = {
            **summary,
            "first_pass": {"outcome": earlier.outcome, "reasons": earlier.reasons},
        }
        for name, value in values.items():
            setattr(earlier, name, value)
        earlier.save(update_fields=list(values))
        return earlier


def _suggestion(ticket: Ticket, given: BotInput) -> str:
    """The article's reply for a person to start from, when it drafts cleanly; else nothing."""
    if given.article is None:
        return ""
    try:
        return draft(given.article.reply, _merge_values(ticket, given))
    except TemplateError:
        return ""


def _lookup(propose: _Proposer, ticket: Ticket) -> dict[str, Any]:
    """Propose the read-only account lookup; if the policy lets it run, read the local mirror and
    record the action executed. Returns the ``BotInput`` fields to replace."""
    account_id = ticket.account_id
    assert account_id is not None  # decide() only asks for a lookup when an account is linked
    account = ticket.account
    action = propose(
        ActionKind.ACCOUNT_LOOKUP,
        "lookup",
        {"account_id": account.external_id if account is not None else str(account_id)},
        "Read the customer's plan and billing status (read-only) for the reply.",
        RiskLevel.LOW,
    )
    if action.status != ActionStatus.APPROVED:
        return {"lookup_refused": f"the lookup is {action.get_status_display().lower()}, not approved"}
    found = account_lookup_read(account_id=account_id)
    actions_settle_many(
        outcomes=[Settled(action.pk, ActionStatus.EXECUTED, f"read {', '.join(sorted(found))}")],
        actor=BOT_ACTOR,
    )
    return {"lookup": found}


@dataclass
class _Proposer:
    """Proposes and routes the ticket's actions, keyed by ticket, model version and step (idempotent)."""

    ticket: Ticket
    version: ModelVersion | None
    confidence: float
    key: str
    ids: list[int] = field(default_factory=list)

    def __call__(
        self, kind: str, step: str, payload: dict[str, Any], rationale: str, risk: str
    ) -> ProposedAction:
        try:
            action = action_propose(
                kind=kind,
                domain=Domain.SUPPORT,
                payload=payload,
                rationale=rationale,
                confidence=round(self.confidence, 4),
                # The intent model's prediction; without a model version the bot's own constant.
                confidence_source="model" if self.version is not None else "rule",
                idempotency_key=f"{self.key}:{step}",
                proposed_by=BOT_ACTOR,
                risk_level=risk,
                ticket_id=self.ticket.pk,
                model_version_id=self.version.pk if self.version is not None else None,
            )
            action = action_route(action_id=action.pk, actor="policy")
        except DuplicateProposal as exc:
            action = exc.existing
        self.ids.append(action.pk)
        return action


def ticket_resolve(*, ticket_id: int, by: str, at: datetime | None = None) -> Ticket:
    """Record that a ticket was resolved (by the bot or a person), for the support metrics."""
    if by not in ResolvedBy.values:
        raise ValueError(f"by: one of {', '.join(ResolvedBy.values)}")
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        ticket.resolved_at, ticket.resolved_by = at or timezone.now(), by
        ticket.save(update_fields=["resolved_at", "resolved_by", "updated_at"])
    return ticket


# --- Survey responses (CSAT) ---------------------------------------------------------------------


@dataclass
class SurveyImport:
    recorded: int = 0
    errors: list[str] = field(default_factory=list)  # "line N: field: reason"


def survey_responses_record(*, rows: Sequence[tuple[int, Mapping[str, str]]]) -> SurveyImport:
    """Record survey answers (``source``, ``external_id``, ``score`` 1–5, ``responded_at`` ISO time,
    optional ``comment``), one per ticket (a repeat replaces the answer). Bad rows are reported by line
    and skipped; tickets are read in one query."""
    outcome = SurveyImport()
    keys = {(r.get("source", ""), r.get("external_id", "")) for _, r in rows}
    tickets = {
        (t.source, t.external_id): t.pk
        for t in Ticket.objects.filter(external_id__in=[k[1] for k in keys]).only("source", "external_id")
    }
    with transaction.atomic():
        for line, row in rows:
            ticket_id = tickets.get((row.get("source", ""), row.get("external_id", "")))
            responded = parse_datetime(row.get("responded_at", "") or "")
            score = row.get("score", "")
            if ticket_id is None:
                outcome.errors.append(
                    f"line {line}: external_id: no {row.get('source')} ticket {row.get('external_id')!r}"
                )
            elif not score.isdigit() or not 1 <= int(score) <= 5:
                outcome.errors.append(
                    f"line {line}: score: must be a whole number from 1 to 5, got {score!r}"
                )
            elif responded is None or timezone.is_naive(responded):
                outcome.errors.append(f"line {line}: responded_at: needs an ISO time with its offset")
            else:
                SurveyResponse.objects.update_or_create(
                    ticket_id=ticket_id,
                    defaults={
                        "score": int(score),
                        "responded_at": responded,
                        "comment": row.get("comment", ""),
                    },
                )
                outcome.recorded += 1
    return outcome


# --- Helpdesk events: new tickets, the customer's replies, resolutions -------------------------------


@dataclass
class HelpdeskEventsSummary:
    """What ``tickets_helpdesk_events_apply`` did (``queued``: tickets handed to the bot)."""

    created: int = 0
    answers: int = 0
    followups: int = 0
    resolved: int = 0
    rated: int = 0
    queued: list[int] = field(default_factory=list)


def _delivery(event: Any) -> dict[str, Any]:
    raw = getattr(event, "raw_body", "") or ""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def tickets_helpdesk_events_apply(*, vendor: str, events: Sequence[Any], actor: str) -> HelpdeskEventsSummary:
    """Apply what helpdesk events mean for the bot and the metrics to the tickets they are about
    (called by the connectors' inbound processing, in its transaction, after the tickets are upserted;
    each stored event comes here once, so a redelivered webhook changes nothing).

    ``events`` are the connectors' stored events (``topic``, ``entity_id``, ``payload``,
    ``raw_body``, ``source_modified_at``). A new ticket is queued for the bot; the customer's reply
    to the bot's diagnostic questions is read into ``attributes.diagnostics`` and queues the second
    pass; a later reply after the resolution sets ``followup_at`` (first-contact resolution); a
    solved or closed ticket gets ``resolved_at`` (handle time) and ``resolved_by`` — the bot when
    its answer was the resolution and nobody was handed the ticket, else a person; the customer's
    rating (Zendesk satisfaction, Intercom conversation rating) becomes the ticket's CSAT answer
    (``helpdesk_rating_record``). The bot runs after the commit.
    """
    summary = HelpdeskEventsSummary()
    meaning: dict[str, list[tuple[Any, TicketEvent]]] = {}
    for event in events:
        read = classify(
            vendor=vendor,
            topic=event.topic,
            payload=event.payload or {},
            delivery=_delivery(event) if vendor == "zendesk" else {},
            at=event.source_modified_at,
        )
        if read.kind:
            meaning.setdefault(str(event.entity_id), []).append((event, read))
    if not meaning:
        return summary
    now = timezone.now()
    tickets = list(
        Ticket.objects.select_for_update().filter(source=vendor, external_id__in=list(meaning)).order_by("pk")
    )
    outcomes = dict(BotRun.objects.filter(ticket__in=tickets).values_list("ticket_id", "outcome"))
    changes: list[dict[str, Any]] = []
    for ticket in tickets:
        changed: set[str] = set()
        ordered = sorted(meaning[ticket.external_id], key=lambda pair: (pair[1].at or now, pair[0].pk))
        for _, read in ordered:
            at = read.at or now
            outcome = outcomes.get(ticket.pk)
            if read.kind == CREATED:
                summary.created += 1
                if outcome is None and ticket.pk not in summary.queued:
                    summary.queued.append(ticket.pk)
            elif read.kind == REQUESTER_MESSAGE:
                attributes = ticket.attributes or {}
                requested = attributes.get("diagnostics_requested") or []
                if outcome == BotOutcome.ASKED and requested and not attributes.get("bot_passes"):
                    answers = read_answers(read.text, requested)
                    ticket.attributes = {
                        **attributes,
                        "diagnostics": {**(attributes.get("diagnostics") or {}), **answers},
                        "second_pass_due": True,
                    }
                    changed.add("attributes")
                    summary.answers += 1
                    if ticket.pk not in summary.queued:
                        summary.queued.append(ticket.pk)
                elif (
                    ticket.resolved_at is not None
                    and ticket.followup_at is None
                    # Helpdesks stamp whole seconds; our own resolution time has microseconds.
                    and at >= ticket.resolved_at.replace(microsecond=0)
                ):
                    ticket.followup_at = at
                    changed.add("followup_at")
                    summary.followups += 1
            elif read.kind == RESOLVED and ticket.resolved_at is None:
                bot_resolved = outcome == BotOutcome.ANSWERED and ticket.escalated_at is None
                ticket.resolved_at = at
                ticket.resolved_by = ResolvedBy.BOT if bot_resolved else ResolvedBy.HUMAN
                changed.update({"resolved_at", "resolved_by"})
                summary.resolved += 1
        if changed:
            ticket.save(update_fields=[*sorted(changed), "updated_at"])
            changes.append({"ticket": ticket.pk, "fields": sorted(changed)})
        # After the ticket's own changes: recording a rating writes the ticket's attributes.
        for _, read in ordered:
            if read.kind == RATED and read.score is not None:
                rated = helpdesk_rating_record(
                    ticket=ticket,
                    rating_ref=read.ref,
                    score=read.score,
                    comment=read.text,
                    rated_at=read.at or now,
                    actor=actor,
                )
                summary.rated += rated
    if changes or summary.queued or summary.rated:
        decision_log_append(
            event_type=EventType.TICKETS_UPSERTED,
            actor=actor,
            subject_type="helpdesk_events",
            input_context={"vendor": vendor, "events": len(events)},
            action_taken={
                "created": summary.created,
                "diagnostic_answers": summary.answers,
                "followups": summary.followups,
                "resolved": summary.resolved,
                "ratings": summary.rated,
                "changed": changes[:100],
                "queued_for_bot": summary.queued[:100],
            },
        )
    if summary.queued:
        queued = list(summary.queued)
        transaction.on_commit(lambda: bot_run_enqueue(ticket_ids=queued))
    return summary


# --- Survey answers by API ---------------------------------------------------------------------------


class SurveyConflict(Exception):
    """The ticket already holds the answer of another survey; ``field`` names the field at fault."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class SurveyRecorded:
    response: SurveyResponse
    created: bool
    changed: bool


def survey_response_record(
    *,
    ticket: Ticket,
    survey_id: str,
    score: int,
    responded_at: datetime,
    comment: str,
    actor: str,
) -> SurveyRecorded:
    """Record one survey answer for ``ticket`` (CSAT), idempotent per ticket and ``survey_id``.

    The same survey sent again answers with what is held; a newer answer of the same survey (the
    customer changed it) replaces it, an older one changes nothing. A ticket holds one answer: an
    answer from another survey, or over one set in the admin or imported, raises ``SurveyConflict``.
    The survey's id is kept on the ticket (``attributes.survey_id``; no schema change for it). The
    change and its decision-log entry are written in one transaction.
    """
    if not 1 <= score <= 5:
        raise ValueError("score: must be a whole number from 1 to 5")
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)  # one answer at a time per ticket
        held = SurveyResponse.objects.filter(ticket=locked).first()
        held_survey = str((locked.attributes or {}).get("survey_id") or "")
        if held is not None and held_survey != survey_id:
            raise SurveyConflict(
                "survey_id",
                f"survey_id: ticket {locked.source}:{locked.external_id} already holds the answer of "
                + (f"survey {held_survey!r}" if held_survey else "a survey set in the admin or imported"),
            )
        if held is not None and responded_at <= held.responded_at:
            return SurveyRecorded(held, created=False, changed=False)
        before = (
            None if held is None else {"score": held.score, "responded_at": held.responded_at.isoformat()}
        )
        response = held or SurveyResponse(ticket=locked)
        response.score, response.comment, response.responded_at = score, comment, responded_at
        response.save()
        if held is None:
            locked.attributes = {**(locked.attributes or {}), "survey_id": survey_id}
            locked.save(update_fields=["attributes", "updated_at"])
        decision_log_append(
            event_type=EventType.OUTCOME_RECORDED,
            actor=actor,
            subject_type="survey_response",
            subject_id=response.pk,
            input_context={"ticket": locked.pk, "survey_id": survey_id, "before": before},
            outcome={"score": score, "responded_at": responded_at.isoformat()},
        )
    return SurveyRecorded(response, created=held is None, changed=True)


def helpdesk_rating_record(
    *, ticket: Ticket, rating_ref: str, score: int, comment: str, rated_at: datetime, actor: str
) -> bool:
    """Record the customer's rating of ``ticket`` in the helpdesk (a Zendesk satisfaction rating, an
    Intercom conversation rating; ``score`` on our 1–5 scale) as its CSAT answer, through
    ``survey_response_record``: the same store, scale and encrypted comment as the survey API, with
    the rating's id (``rating_ref``) as the survey's. One answer per ticket: the same rating read
    again (a redelivered webhook, the sync seeing it too) changes nothing, whatever its time; a
    changed one (another score or comment, newer) replaces it. A ticket holding another survey's
    answer keeps it (logged). Returns whether anything changed."""
    held = SurveyResponse.objects.filter(ticket=ticket).first()
    held_ref = str((ticket.attributes or {}).get("survey_id") or "")
    if held is not None and held_ref == rating_ref and (held.score, held.comment) == (score, comment):
        return False
    try:
        recorded = survey_response_record(
            ticket=ticket,
            survey_id=rating_ref,
            score=score,
            responded_at=rated_at,
            comment=comment,
            actor=actor,
        )
    except SurveyConflict as exc:
        logger.warning("helpdesk rating %s of ticket %s not recorded: %s", rating_ref, ticket.pk, exc)
        return False
    ticket.attributes = {**(ticket.attributes or {}), "survey_id": rating_ref}
    return recorded.changed


def bot_run_enqueue(*, ticket_ids: Sequence[int]) -> str:
    """Queue the bot for tickets a helpdesk event just brought (a new ticket, an answer to its
    questions), so it does not wait for the every-minute schedule. The task is named by its path,
    so this module need not import the tasks that import it."""
    from django_q.tasks import async_task

    return str(
        async_task(
            "support.tasks.support_bot_run_task",
            list(ticket_ids),
            task_name=f"support bot for {len(ticket_ids)} tickets",
        )
    )
