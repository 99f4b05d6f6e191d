"""The support bot end to end on the database, with a small intent model trained once per session.

The model is trained on 25 examples per intent (about 6 s) and promoted through the real gate with
its floors lowered: such a model does not reach the product's figures (it is for speed), and the bot
must act only on a champion, so the test makes it one the way an operator would, consciously.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from approvals.models import ApprovalPolicy, ProposedAction
from scoring import intent_models, intent_services
from scoring.intent_models import IntentGatePolicy
from scoring.intent_services import intent_model_train
from scoring.services import model_version_promote
from support.models import Article, BotRun, HandoffRoute, IntentPolicy, ReplyFragment, Ticket
from support.services import ArticleError, article_publish, support_bot_run
from tests.factories import AccountFactory, TicketFactory

# One xdist worker for the tests that train the intent model on Banking77: the sentence encoder keeps
# the vectors of the texts it encoded per process, and encoding the hold-out and the training texts
# (about a minute) is then paid once, not once per worker.
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("intent-model")]

_FITTED: dict[int, Any] = {}
THRESHOLD = 0.6


@pytest.fixture
def champion(monkeypatch):
    real_fit = intent_services.fit_intent_model

    def fit_once(texts, labels, **kwargs):
        key = hash((tuple(texts), tuple(labels)))
        if key not in _FITTED:
            _FITTED[key] = real_fit(texts, labels, **kwargs)
        return _FITTED[key]

    monkeypatch.setattr(intent_services, "fit_intent_model", fit_once)
    # Lowered floors: a 25-per-intent model is far below 0.90 accuracy; see the module docstring.
    monkeypatch.setattr(intent_models, "INTENT_GATE", IntentGatePolicy(0.0, 0.0, 0.0))
    version = intent_model_train(actor="test", per_intent=25)
    # A model trained on so few examples is less sure of itself than the shipped one: the safe
    # intents' thresholds come down to match (the sensitive ones keep theirs; they never answer).
    IntentPolicy.objects.filter(is_safe=True).update(threshold=THRESHOLD)
    return model_version_promote(version_id=version.pk, to="champion", actor="test", reason="test model")


def _auto_send_support_replies():
    ApprovalPolicy.objects.create(
        name="Support replies go out on their own", outcome="auto", domains=["support"], priority=10
    )


def _actions(ticket: Ticket) -> list[ProposedAction]:
    return list(ProposedAction.objects.filter(ticket=ticket).order_by("pk"))


def test_it_answers_a_confident_safe_ticket_from_the_published_fragment(champion):
    _auto_send_support_replies()
    ticket = TicketFactory(body="I am still waiting on my card?", requester_name="Ana Silva", status="new")

    summary = support_bot_run()

    assert summary.model_version == champion.label and summary.outcomes == {"answered": 1}
    (reply,) = _actions(ticket)
    assert reply.kind == "post_public_reply" and reply.status == "approved"  # the policy let it go
    fragment = ReplyFragment.objects.get(article__intent="card_arrival", key="reply").text
    assert reply.payload["body"] == fragment.replace('{{ first_name | "there" }}', "Ana")
    assert "card_arrival v1" in reply.rationale
    assert reply.idempotency_key == f"support-bot:ticket-{ticket.pk}:{champion.label}:reply"
    run = BotRun.objects.get(ticket=ticket)
    assert run.article.label == "card_arrival v1" and run.outcome == "answered"
    ticket.refresh_from_db()
    assert ticket.predicted_intent == "card_arrival" and ticket.intent_confidence >= THRESHOLD
    assert ticket.resolved_by == "bot" and ticket.resolved_at is not None


def test_without_an_auto_send_policy_the_reply_waits_for_a_person(champion):
    ticket = TicketFactory(body="I am still waiting on my card?", status="new")
    support_bot_run()
    (reply,) = _actions(ticket)
    assert reply.status == "pending_approval"
    ticket.refresh_from_db()
    assert ticket.resolved_by == ""


def test_a_low_confidence_ticket_is_handed_off_with_its_summary(champion):
    ticket = TicketFactory(body="hello", status="new")
    support_bot_run()
    (handoff,) = _actions(ticket)
    assert handoff.kind == "handoff_to_human" and handoff.status == "pending_approval"
    assert handoff.payload["queue"] == "Support leads"
    summary = BotRun.objects.get(ticket=ticket).summary
    assert summary["customer_asked"] == "hello" and summary["confidence"] < THRESHOLD
    assert summary["why_words"] and summary["why_words"][0][0] == "hello"
    assert "below" in summary["reasons"][0] and "threshold" in summary["reasons"][0]
    for part in ("Words that drove the prediction: hello (+", "Customer asked: hello", "Intent: "):
        assert part in handoff.payload["summary"]
    ticket.refresh_from_db()
    assert ticket.escalated_at is not None and ticket.assigned_group == "Support leads"


def test_a_handoff_goes_to_the_most_specific_route_with_its_group_priority_and_tags(champion):
    HandoffRoute.objects.create(name="Anything", group="100", queue="Tier 1")
    HandoffRoute.objects.create(name="Demo helpdesk", source="demo", group="200", queue="Demo desk", order=1)
    HandoffRoute.objects.create(
        name="Refunds",
        intent="request_refund",
        group="300",
        queue="Refunds",
        priority="urgent",
        tags=["refund"],
    )
    HandoffRoute.objects.create(
        name="Refunds (off)", intent="request_refund", group="400", is_active=False, order=0
    )
    refund = TicketFactory(body="I want a refund for my purchase", status="new")
    other = TicketFactory(body="hello", status="new")

    support_bot_run()

    (to_refunds,) = _actions(refund)
    (to_desk,) = _actions(other)
    assert {k: to_refunds.payload[k] for k in ("group", "queue", "priority", "tags")} == {
        "group": "300", "queue": "Refunds", "priority": "urgent", "tags": ["refund"],
    }  # fmt: skip
    assert to_refunds.payload["summary"].startswith("Handed off to Refunds by the support bot.")
    assert (to_desk.payload["group"], to_desk.payload["queue"]) == ("200", "Demo desk")
    assert "priority" not in to_desk.payload and "tags" not in to_desk.payload


def test_a_handoff_follows_the_tickets_team_and_language(champion):
    HandoffRoute.objects.create(name="Anything", group="100", queue="Tier 1")
    HandoffRoute.objects.create(name="Portuguese", language="pt", group="500", queue="Equipa PT")
    HandoffRoute.objects.create(name="Business", team="Business accounts", group="600", queue="Business desk")
    brazilian = TicketFactory(body="hello", status="new", attributes={"language": "pt-BR"})
    business = TicketFactory(
        body="hello", status="new", attributes={"language": "pt", "team": "Business accounts"}
    )
    unknown = TicketFactory(body="hello", status="new")

    support_bot_run()

    routed = {t.pk: _actions(t)[0].payload for t in (brazilian, business, unknown)}
    assert (routed[brazilian.pk]["group"], routed[brazilian.pk]["queue"]) == ("500", "Equipa PT")
    assert (routed[business.pk]["group"], routed[business.pk]["queue"]) == ("600", "Business desk")
    assert (routed[unknown.pk]["group"], routed[unknown.pk]["queue"]) == ("100", "Tier 1")


def test_a_sensitive_intent_is_never_answered_and_is_handed_off_at_once(champion):
    # Even with a policy that would let every support action out on its own, and a confident model,
    # no reply is proposed. The handoff only gives the ticket to people, with a note only agents
    # read: low risk, so that policy lets it go at once (issue 20; it used to wait as critical).
    _auto_send_support_replies()
    ticket = TicketFactory(body="I want a refund for my purchase", status="new")
    support_bot_run()
    (handoff,) = _actions(ticket)
    assert handoff.kind == "handoff_to_human" and handoff.risk_level == "low"
    assert handoff.status == "approved"
    run = BotRun.objects.get(ticket=ticket)
    assert run.intent == "request_refund" and run.confidence > 0.93 and run.summary["sensitive"]
    ticket.refresh_from_db()
    assert ticket.resolved_by == ""


def test_a_human_only_intent_cannot_also_be_marked_safe():
    with pytest.raises(IntegrityError), transaction.atomic():
        IntentPolicy.objects.filter(intent="request_refund").update(is_safe=True)


def test_without_a_champion_every_ticket_is_handed_off_with_the_reason():
    ticket = TicketFactory(body="I am still waiting on my card?", status="new")
    out = StringIO()
    call_command("run_support_bot", stdout=out)
    assert "No champion intent model" in out.getvalue()
    (handoff,) = _actions(ticket)
    assert handoff.kind == "handoff_to_human"
    assert "no champion intent model" in handoff.payload["summary"]
    assert handoff.idempotency_key.endswith(":no-model:handoff")


def test_running_again_creates_nothing_new(champion):
    tickets = [
        TicketFactory(body=text, status="new")
        for text in ("I am still waiting on my card?", "hello", "I want a refund for my purchase")
    ]
    first = support_bot_run()
    counts = (ProposedAction.objects.count(), BotRun.objects.count())
    second = support_bot_run()
    assert first.tickets == 3 and second.tickets == 0
    assert (ProposedAction.objects.count(), BotRun.objects.count()) == counts
    assert all(BotRun.objects.filter(ticket=t).exists() for t in tickets)


def test_it_reads_the_account_read_only_before_an_answer_that_needs_it(champion):
    _auto_send_support_replies()
    account = AccountFactory(name="Ana's household", attributes={"plan": "Premium"})
    ticket = TicketFactory(body="what are the top up limits", status="new", account=account)
    support_bot_run()
    lookup, reply = _actions(ticket)
    assert lookup.kind == "account_lookup" and lookup.status == "executed"
    assert lookup.payload == {"account_id": account.external_id}
    assert "account Ana's household is on the Premium plan" in reply.payload["body"]
    assert "top_up_limits v1" in reply.rationale


def test_a_missing_merge_field_hands_off_with_a_clear_error_never_an_empty_hole(champion):
    _auto_send_support_replies()
    ticket = TicketFactory(
        body="what are the top up limits", status="new", account=AccountFactory(attributes={})
    )
    support_bot_run()
    _lookup, handoff = _actions(ticket)
    assert handoff.kind == "handoff_to_human"
    assert not ProposedAction.objects.filter(ticket=ticket, kind="post_public_reply").exists()
    reasons = BotRun.objects.get(ticket=ticket).reasons
    assert reasons[-1] == (
        "reply could not be drafted from top_up_limits v1: plan: has no value for this ticket; "
        "fill it in or give a fallback"
    )


def test_it_asks_for_missing_diagnostics_and_records_them_on_the_ticket(champion):
    ticket = TicketFactory(body="My card is not working", status="new")
    support_bot_run()
    (ask,) = _actions(ticket)
    assert ask.kind == "post_public_reply" and "last 4 digits" in ask.payload["body"]
    assert "card_not_working v1" in ask.rationale
    ticket.refresh_from_db()
    assert ticket.attributes["diagnostics_requested"] == ["card_last4"]
    assert BotRun.objects.get(ticket=ticket).outcome == "asked"


def test_only_the_published_version_is_used_and_publishing_retires_the_old_one(champion):
    _auto_send_support_replies()
    draft = Article.objects.create(intent="card_arrival", version=2, title="Card arrival, revised")
    ReplyFragment.objects.create(article=draft, key="reply", text="Hi {{ first_name }}, version two.")
    first = TicketFactory(body="I am still waiting on my card?", requester_name="Ana", status="new")
    support_bot_run()
    assert "card_arrival v1" in _actions(first)[0].rationale

    article_publish(article_id=draft.pk)
    assert Article.objects.get(intent="card_arrival", version=1).status == "retired"
    second = TicketFactory(body="I am still waiting on my card?", requester_name="Ben", status="new")
    support_bot_run()
    (reply,) = _actions(second)
    assert reply.payload["body"] == "Hi Ben, version two." and "card_arrival v2" in reply.rationale


def test_an_article_with_an_unknown_merge_field_cannot_be_published():
    draft = Article.objects.create(intent="card_arrival", version=2, title="Card arrival")
    ReplyFragment.objects.create(article=draft, key="reply", text="Your manager is {{ owner }}.")
    with pytest.raises(ArticleError, match="unknown merge field"):
        article_publish(article_id=draft.pk)
    with pytest.raises(ArticleError, match="only a draft"):
        article_publish(article_id=Article.objects.get(intent="card_arrival", version=1).pk)


def test_the_seeded_knowledge_base_is_published_and_renders():
    articles = Article.objects.filter(status="published").prefetch_related("fragments")
    assert len(articles) >= 8
    for article in articles:
        assert not IntentPolicy.objects.get(intent=article.intent).requires_human
        for fragment in article.fragments.all():
            from support.bot import draft

            values = {"first_name": "Ana", "account_name": "A", "plan": "Pro", "card_last4": "1234"}
            assert "{{" not in draft(fragment.text, values)
