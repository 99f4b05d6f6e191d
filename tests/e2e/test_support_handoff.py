"""Issue 20's support leads' workflow, end to end in a real browser against the Zendesk and the
Intercom sandbox over HTTP ("Done when"):

a sensitive ticket arrives by webhook → the bot hands it off → in the sandbox the ticket is in the
route's group with the internal summary at once → Priya, a support lead, opens it in AgentOps in
Debian's chromium, corrects the intent, edits the suggested reply and sends it → the policy holds
replies for a second person, so Tom approves it in his browser (the page posts the hash it showed)
→ the outbox posts it and the customer sees it, read through the vendor's API → the customer's
rating arrives by the helpdesk's webhook and shows on the support metrics page → the corrected
intent ends the next intent training run's training split.

Every page visited fails the test on a console error, an uncaught exception or a failed request.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Request, expect

from approvals.models import ApprovalPolicy, ProposedAction
from approvals.services import payload_sha256
from connectors.models import ExecutionAttempt
from scoring import intent
from scoring.intent import read_examples, split_examples
from scoring.intent_examples import intent_training_examples
from scoring.intent_services import BANKING77
from support.models import Article, HandoffRoute, ReplyFragment, Ticket
from support.services import article_publish
from tests.factories import user_in_role
from tests.support.helpdesk_world import make_helpdesk
from tests.support.test_bot_services import champion
from tests.support.test_end_to_end import VENDORS, servers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# The fixtures, used by name: the trained model and the sandboxes' servers (Playwright's ``new_page``
# is registered in tests/conftest.py).
__all__ = ["champion", "servers"]

PASSWORD = "pw-for-tests-1"  # the factories' password
ASKED = "I want a refund for my purchase"
CORRECTED = "Refund_not_showing_up"
#: The customer's best rating in each helpdesk's own scale (Zendesk: good or bad; Intercom: 1–5).
HAPPY = {"zendesk": "good", "intercom": 5}
SUGGESTED = "Hello, we have received your refund request and will answer within a day."
#: Priya's edit of the suggested reply.
REPLY = "Hi Ana, I have refunded your purchase today; it shows on your statement within 5 days."


@pytest.fixture
def lexical_champion(request, monkeypatch):
    """The support tests' trained champion without the sentence encoder (TF-IDF only): the
    workflow, not the model, is under test here, and loading the encoder and encoding the training
    and hold-out texts is most of a first run's time."""
    monkeypatch.setitem(intent.DEFAULT_PARAMS, "embedding_weight", 0.0)
    return request.getfixturevalue("champion")


@pytest.fixture
def helpdesk(request, servers, django_capture_on_commit_callbacks, lexical_champion):
    # Support actions go out on their own; a reply to the customer waits for a person.
    ApprovalPolicy.objects.create(
        name="Support actions go out on their own", outcome="auto", domains=["support"], priority=10
    )
    ApprovalPolicy.objects.create(
        name="A person reads replies", outcome="one_approval", kinds=["post_public_reply"]
    )
    return make_helpdesk(request.param, django_capture_on_commit_callbacks, servers)


class Watched:
    """A page whose console errors, uncaught exceptions and failed requests (refused, blocked, or
    answered with an HTTP error) are collected."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on(
            "console", lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on(
            "response",
            lambda r: (
                self.problems.append(f"HTTP {r.status}: {r.request.method} {r.url}")
                if r.status >= 400
                else None
            ),
        )

    def _failed(self, request: Request) -> None:
        # ERR_ABORTED is a request the browser dropped itself because the page went on (the
        # favicon still loading when the test navigates); a refused or blocked request is
        # ERR_FAILED or ERR_CONNECTION_*, and an HTTP error answer is caught as a response.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"failed: {request.method} {request.url} {request.failure}")

    def login(self, username: str) -> None:
        self.page.goto("/login/")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        expect(self.page.locator(".who")).to_be_visible()


def _said(page: Page, text: str) -> None:
    expect(page.locator(".messages [role=status]")).to_contain_text(text)


@pytest.mark.parametrize("helpdesk", VENDORS, indirect=True)
def test_a_sensitive_ticket_goes_from_the_webhook_to_the_customers_rating_and_the_next_training_run(
    helpdesk, new_page
):
    user_in_role("Support leads", username="priya", first_name="Priya", last_name="Shah")
    user_in_role("Support leads", username="tom", first_name="Tom", last_name="Berg")
    refunds = helpdesk.add_group("Refunds")
    HandoffRoute.objects.create(
        name="Refunds", intent="request_refund", group=refunds, queue="Refunds team", priority="high", tags=["refund"]
    )  # fmt: skip
    HandoffRoute.objects.create(name="Everything else", group=helpdesk.add_group("General"), order=1)
    # The refunds article drafts the reply a person starts from (the bot never sends it: sensitive).
    article = Article.objects.create(intent="request_refund", version=1, title="Refunds")
    ReplyFragment.objects.create(article=article, key="reply", text=SUGGESTED)
    article_publish(article_id=article.pk)

    # The customer writes in; the webhook brings it, the bot hands it off, the outbox runs once.
    external_id = helpdesk.open_ticket(ASKED)
    helpdesk.deliver()
    helpdesk.execute()
    ticket = Ticket.objects.get(source=helpdesk.vendor, external_id=external_id)
    handoff = ProposedAction.objects.get(ticket=ticket, kind="handoff_to_human")
    assert ticket.bot_run.outcome == "handed_off" and handoff.status == "executed"
    assert ExecutionAttempt.objects.get(action=handoff).vendor_id == external_id  # settled with its id
    # At once in the helpdesk: the route's group, and the summary as a private note.
    assert helpdesk.assignment(external_id)["group"] == refunds
    (note,) = helpdesk.ours(external_id)
    assert not note["public"] and "Handed off to Refunds team by the support bot." in note["body"]
    assert "Intent: request_refund" in note["body"] and SUGGESTED in note["body"]  # the reply to start from
    helpdesk.deliver()  # our own writes come back as events: they change nothing

    # Priya opens it from the ticket list, corrects the intent, edits the suggested reply, sends it.
    priya = Watched(new_page())
    priya.login("priya")
    priya.page.goto("/support/tickets/?state=handed_off")
    priya.page.click(f"#ticket-{ticket.pk} a")
    page = priya.page
    expect(page).to_have_url(re.compile(rf"/support/tickets/{ticket.pk}/$"))
    expect(page.locator(".conversation")).to_contain_text(ASKED)
    expect(page.locator(".reasoning")).to_contain_text("Refunds team")
    page.click("a[href='#intent']")
    page.select_option("#intent_choice", CORRECTED)
    page.click("#intent button[type=submit]")
    _said(page, f"Corrected the intent: {CORRECTED}")

    page.click("a[data-open-panel=edit]")
    expect(page.locator("#reply_body")).to_have_value(SUGGESTED)
    reply_text = REPLY
    page.fill("#reply_body", reply_text)
    page.click("#edit button.btn-approve")
    _said(page, "someone else approves it")
    reply = ProposedAction.objects.get(ticket=ticket, kind="post_public_reply")
    assert (reply.status, reply.proposed_by, reply.payload["body"]) == (
        "pending_approval",
        "user:priya",
        reply_text,
    )
    helpdesk.execute()
    assert [m for m in helpdesk.ours(external_id) if m["public"]] == []  # nothing out before approval

    # Tom approves it from the ticket's page: the form posts the hash of the reply the page showed.
    tom = Watched(new_page())
    tom.login("tom")
    tom.page.goto(f"/support/tickets/{ticket.pk}/")
    expect(tom.page.locator("#approve-form input[name=payload_sha256]")).to_have_value(
        payload_sha256(reply.payload)
    )
    tom.page.click("#approve-form button[type=submit]")
    _said(tom.page, f"Approved reply #{reply.pk}")

    # The outbox posts it; the customer reads it in the helpdesk.
    helpdesk.execute()
    reply.refresh_from_db()
    assert reply.status == "executed"
    (sent,) = [m for m in helpdesk.ours(external_id) if m["public"]]
    assert reply_text in sent["body"]
    helpdesk.deliver()

    # An agent solves it, the customer rates it; the rating comes by the helpdesk's webhook.
    helpdesk.agent_solves(external_id)
    helpdesk.deliver()
    helpdesk.customer_rates(external_id, HAPPY[helpdesk.vendor], "Sorted, thank you")
    helpdesk.deliver()
    priya.page.goto("/support/metrics/?days=7")
    csat = priya.page.locator("tr[data-metric=csat]")
    expect(csat.locator("td[data-label='This period']")).to_have_text("100.0%")
    expect(csat.locator("td[data-label=Cases]")).to_have_text("1")

    # The next training run's training split ends with Priya's correction.
    examples = read_examples(BANKING77)
    split = split_examples(examples)
    train, added = intent_training_examples(examples.subset(split.train), examples.subset(split.holdout))
    assert added == {"support_corrections": 1}
    assert (train.texts[-1], train.labels[-1]) == (ASKED, CORRECTED)
    assert priya.problems == [] and tom.problems == [], priya.problems + tom.problems
