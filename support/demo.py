"""The support part of the demo: customer queries for the bot, a history for the metrics page, and (once)
the shipped intent model, trained and promoted through the product's gate. Called by ``seed_demo``; safe to run twice.

- **Queries**: 40 real BANKING77 queries from the model's hold-out (never trained on) arrive as new
  demo chat tickets: three for each intent the knowledge base answers, the rest at random.
- **History**: 28 recent days of resolved tickets (some by the bot, with surveys and follow-ups) and
  30 days before automation as the baseline period, seeded, so the metrics page has a trend and a
  comparison. They are synthetic and say so (``attributes.synthetic``).
- **Model**: the shipped recipe, trained on the 80% training split; promoted only if it passes the
  intent gate (accuracy, coverage and precision floors on the hold-out; docs/support-bot.md).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from scoring import intent_services
from scoring.choices import ModelKind
from scoring.intent import read_examples, split_examples
from scoring.selectors import champion
from support.choices import ArticleStatus, ResolvedBy
from support.models import Article, SupportSettings, SurveyResponse, Ticket
from support.services import BotRunSummary, support_bot_run

QUERIES = 40
PER_ANSWERED_INTENT = 3
NAMES = ["Ana Silva", "Ben Okafor", "Chloé Martin", "Dev Patel", "Eva Novak", "Femi Adeyemi", "Grace Liu"]


def demo_support_ensure(*, today: datetime, train: bool, say: Callable[[str], None]) -> None:
    """Demo queries and history, the intent model if asked and missing, then the bot over the queries."""
    _queries()
    _history(today)
    if champion(ModelKind.INTENT) is None and train:
        _intent_model(say)
    if champion(ModelKind.INTENT) is None:
        say(
            "support bot idle: no champion intent model (seed_demo without --no-intent-model trains one; "
            "or manage.py train_intent_model --promote once the gate passes)"
        )
        return
    ids = list(
        Ticket.objects.filter(source="demo", external_id__startswith="demo-b77-").values_list("pk", flat=True)
    )
    summary: BotRunSummary = support_bot_run(ticket_ids=ids)
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items())) or "nothing new"
    say(f"support bot ({summary.model_version}): {summary.tickets} demo tickets; {outcomes}")


def _queries() -> None:
    """Three hold-out queries for each intent the knowledge base answers, and others at random
    (among them sensitive ones), so the demo shows answers, questions and handoffs."""
    examples = read_examples(intent_services.BANKING77)
    holdout = [int(i) for i in split_examples(examples).holdout]
    rng = random.Random(77)  # noqa: S311 - a reproducible demo sample, not a secret
    answered = set(Article.objects.filter(status=ArticleStatus.PUBLISHED).values_list("intent", flat=True))
    picked: list[int] = []
    for intent in sorted(answered):
        picked += rng.sample([i for i in holdout if examples.labels[i] == intent], PER_ANSWERED_INTENT)
    others = [i for i in holdout if examples.labels[i] not in answered]
    picked += rng.sample(others, max(QUERIES - len(picked), 0))
    for n, index in enumerate(sorted(picked)):
        Ticket.objects.get_or_create(
            source="demo",
            external_id=f"demo-b77-{index:05d}",
            defaults={
                "subject": examples.texts[index][:80],
                "body": examples.texts[index],
                "requester_name": NAMES[n % len(NAMES)],
                "channel": "chat",
                "status": "new",
                "intent_label": examples.labels[index],
            },
        )


def _history(today: datetime) -> None:
    """Synthetic resolved tickets: the last 28 days with the bot, and a 30-day baseline before it."""
    if Ticket.objects.filter(source="demo", external_id__startswith="demo-hist-").exists():
        return
    rng = random.Random(7)  # noqa: S311 - reproducible demo data, not a secret
    intents = ["card_arrival", "exchange_rate", "top_up_by_card_charge", "request_refund", "card_not_working"]
    tickets, surveys = [], []
    baseline_first = (today - timedelta(days=150)).date()
    for day_offset in [*range(1, 29), *range(121, 151)]:
        automated = day_offset <= 28
        for i in range(rng.randint(4, 9)):
            opened = today - timedelta(days=day_offset) + timedelta(hours=rng.uniform(8, 18))
            intent = rng.choice(intents)
            by_bot = automated and intent != "request_refund" and rng.random() < 0.6
            hours = rng.uniform(0.05, 0.5) if by_bot else rng.uniform(2, 30)
            resolved_at = opened + timedelta(hours=hours)
            followup = resolved_at + timedelta(hours=rng.uniform(1, 48)) if rng.random() < 0.2 else None
            ticket = Ticket(
                source="demo", external_id=f"demo-hist-{day_offset:03d}-{i}", subject=f"({intent})",
                body="Synthetic demo ticket for the metrics page.", status="solved", channel="chat",
                predicted_intent=intent if automated else "", intent_label=intent,
                source_created_at=opened, resolved_at=resolved_at,
                resolved_by=ResolvedBy.BOT if by_bot else ResolvedBy.HUMAN,
                escalated_at=None if by_bot else opened + timedelta(minutes=5),
                followup_at=followup, attributes={"synthetic": True},
            )  # fmt: skip
            tickets.append(ticket)
    Ticket.objects.bulk_create(tickets)
    stored = Ticket.objects.filter(source="demo", external_id__startswith="demo-hist-")
    for ticket in stored:
        if rng.random() < 0.4:
            base = 4.3 if ticket.resolved_by == ResolvedBy.BOT else 3.9
            score = min(5, max(1, round(rng.gauss(base, 0.9))))
            assert ticket.resolved_at is not None
            surveys.append(
                SurveyResponse(
                    ticket=ticket, score=score, responded_at=ticket.resolved_at + timedelta(hours=1)
                )
            )
    SurveyResponse.objects.bulk_create(surveys)
    settings_row = SupportSettings.current()
    if settings_row.baseline_start is None:
        settings_row.baseline_start, settings_row.baseline_end = (
            baseline_first,
            baseline_first + timedelta(days=29),
        )
        settings_row.save()


def _intent_model(say: Callable[[str], None]) -> None:
    """Train the shipped recipe once and promote it through the product's intent gate."""
    from scoring.services import GateFailed, model_version_promote

    say("training the intent model on BANKING77 (once; about a minute)…")
    version = intent_services.intent_model_train(actor="seed_demo")
    try:
        model_version_promote(
            version_id=version.pk, to="champion", actor="seed_demo", reason="demo: the shipped recipe"
        )
        say(f"promoted {version.label} for the demo")
    except GateFailed as exc:
        say(f"intent model not promoted: {exc}")
