"""A support lead works the tickets in a real browser (Debian's chromium via Playwright; issue 20).

Given tickets in each state with the bot, when Priya opens the list, opens a handed-off ticket,
corrects its intent and edits the suggested reply, then her reply is proposed through the approval
policy and Tom, another support lead, approves it (four eyes); when she edits the bot's reply that
waits for approval, her approval sends her text. Both pages fit a phone, nothing logs a console
error, and screenshots go to docs/screenshots/ (support-tickets-*, support-ticket-*).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from approvals.models import ProposedAction
from approvals.services import payload_sha256
from support.models import BotRun, IntentCorrection, Ticket
from tests.factories import ModelVersionFactory, ProposedActionFactory, TicketFactory, user_in_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-1"  # the factories' password
INTENTS = ["card_arrival", "card_delivery_estimate", "exchange_rate", "request_refund", "top_up_limits"]
SUGGESTED = (
    "Hi Ana, sorry your card has not arrived yet. You can follow its delivery in the app under Cards "
    "> Track delivery; if it shows as delivered and you do not have it, reply and we will send a new one."
)


def _run(ticket: Ticket, outcome: str, intent: str, confidence: float, **summary) -> None:
    Ticket.objects.filter(pk=ticket.pk).update(predicted_intent=intent, intent_confidence=confidence)
    BotRun.objects.create(
        ticket=ticket, outcome=outcome, intent=intent, confidence=confidence,
        reasons=summary.pop("reasons", [f"confidence {confidence:.2f} below {intent}'s threshold 0.84"]),
        summary={
            "intent": intent, "confidence": confidence, "model_version": "banking77 v1",
            "why_words": [["card", 1.31], ["arrived", 0.92], ["weeks", 0.41], ["still", 0.18], ["hasn't", -0.22]],
            "customer_asked": ticket.body, "diagnostics": {}, "account": {}, "suggested_reply": "",
            "article": "", "reasons": [], "sensitive": False, **summary,
        },
    )  # fmt: skip


def _action(ticket: Ticket, kind: str, payload: dict, status: str, **kw) -> ProposedAction:
    if status in ("approved", "executed"):
        kw["approved_payload_sha256"] = payload_sha256(payload)
    return ProposedActionFactory(
        kind=kind, domain="support", lead=None, ticket=ticket, payload=payload, status=status,
        proposed_by="support-bot", risk_level="low", **kw,
    )  # fmt: skip


def _tickets() -> dict[str, Ticket]:
    """Priya's and Tom's tickets: one in each state with the bot."""
    user_in_role("Support leads", username="priya", first_name="Priya", last_name="Shah")
    user_in_role("Support leads", username="tom", first_name="Tom", last_name="Berg")
    ModelVersionFactory(
        kind="intent", name="banking77", version=1, status="champion", preprocessing={"intents": INTENTS}
    )
    now = timezone.now()

    def ticket(ref, subject, body, minutes_ago, **kw):
        return TicketFactory(
            source="zendesk", external_id=ref, subject=subject, body=body, requester_name="Ana Silva",
            channel="email", status="open", source_created_at=now - timedelta(minutes=minutes_ago), **kw,
        )  # fmt: skip

    handed = ticket(
        "4811", "My card still hasn't arrived", "It's been two weeks and my card still hasn't arrived. Where is it?",
        12, escalated_at=now, assigned_group="Cards team",
    )  # fmt: skip
    _run(
        handed, "handed_off", "card_delivery_estimate", 0.58, suggested_reply=SUGGESTED,
        article="card_delivery_estimate v1",
        reasons=["confidence 0.58 below card_delivery_estimate's threshold 0.84"],
    )  # fmt: skip
    summary = "Handed off to Cards team by the support bot.\nIntent: card_delivery_estimate (confidence 0.58)"
    _action(
        handed,
        "handoff_to_human",
        {"ticket": "4811", "summary": summary, "queue": "Cards team", "group": "360001"},
        "executed",
    )
    waiting = ticket(
        "4812", "Exchange rate for a euro payment", "What rate do you use when I pay in euros?", 30
    )
    _run(
        waiting,
        "answered",
        "exchange_rate",
        0.93,
        article="exchange_rate v1",
        reasons=["exchange_rate at confidence 0.93 (threshold 0.84)"],
    )
    _action(
        waiting,
        "post_public_reply",
        {"ticket": "4812", "body": "Hi Ana, we use the rate shown in the app at the time you pay."},
        "pending_approval",
    )
    answered = ticket("4813", "Top-up limit", "How much can I top up in a day?", 55)
    _run(answered, "answered", "top_up_limits", 0.97, article="top_up_limits v1")
    _action(
        answered,
        "post_public_reply",
        {"ticket": "4813", "body": "Hi Ana, your plan lets you top up 5,000 a day."},
        "executed",
    )
    reopened = ticket(
        "4814", "Refund not showing", "The refund you promised is not in my account.", 300,
        resolved_at=now - timedelta(hours=3), resolved_by="human", followup_at=now - timedelta(minutes=20),
    )  # fmt: skip
    _run(
        reopened,
        "handed_off",
        "request_refund",
        0.88,
        sensitive=True,
        reasons=["request_refund implies an irreversible or sensitive change: always handled by a person"],
    )
    return {"handed": handed, "waiting": waiting, "answered": answered, "reopened": reopened}  # fmt: skip


def _login(page: Page, username: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_be_visible()


def _watch_console(page: Page) -> list[str]:
    """Console errors and uncaught exceptions of ``page`` (a CSP violation is one), collected."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def _no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"page scrolls sideways: {widths[0]}px content in {widths[1]}px"


def _shortcuts_ready(page: Page) -> None:
    expect(page.locator("html[data-shortcuts=ready]")).to_have_count(1)


def test_a_support_lead_corrects_a_handed_off_tickets_intent_and_sends_the_edited_reply(new_page, screenshot):
    tickets = _tickets()
    handed = tickets["handed"]
    page = new_page()
    errors = _watch_console(page)
    _login(page, "priya")

    page.click("nav.nav >> text=Tickets")
    expect(page).to_have_url(re.compile(r"/support/tickets/$"))
    expect(page.locator("h1")).to_contain_text("4 in all")
    expect(page.locator(".chip.state-handed_off")).to_contain_text("Handed off 1")
    expect(page.locator(f"#ticket-{handed.pk} .badge")).to_have_text("Handed off")
    _no_sideways_scroll(page)
    screenshot(page, "support-tickets-1280")

    # The list's keyboard habits are the queue's: j / k move, Enter opens.
    _shortcuts_ready(page)
    rows = page.locator("[data-queue-row]")
    expect(rows.nth(0)).to_have_attribute("data-id", str(handed.pk))  # newest first
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile("is-selected"))
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/support/tickets/{handed.pk}/$"))
    expect(page.locator("h1")).to_contain_text("My card still hasn't arrived")
    expect(page.locator(".conversation")).to_contain_text("It's been two weeks")
    expect(page.locator(".reasoning")).to_contain_text("card_delivery_estimate")
    expect(page.locator(".reasoning")).to_contain_text("confidence 0.58 below")
    expect(page.locator(".reasoning ul.words")).to_contain_text("arrived")
    expect(page.locator(".reasoning")).to_contain_text("Cards team")

    # i: correct the intent.
    _shortcuts_ready(page)
    page.keyboard.press("i")
    expect(page.locator("#intent")).to_be_visible()
    page.select_option("#intent_choice", "card_arrival")
    page.click("#intent button[type=submit]")
    expect(page.locator(".messages [role=status]")).to_contain_text("Corrected the intent: card_arrival")
    expect(page.locator(".reasoning .corrected")).to_contain_text("card_arrival")
    correction = IntentCorrection.objects.get()
    assert (correction.predicted, correction.corrected) == ("card_delivery_estimate", "card_arrival")

    # e: edit the suggested reply; the live diff shows the change word by word.
    _shortcuts_ready(page)
    page.keyboard.press("e")
    expect(page.locator("#edit")).to_be_visible()
    expect(page.locator("#reply_body")).to_have_value(SUGGESTED)
    edited = SUGGESTED.replace("sorry your card", "I am sorry your card").replace(
        "we will send a new one", "I will send a new one today"
    )
    page.fill("#reply_body", edited)
    expect(page.locator("#edit-diff .word-diff ins").first).to_be_visible()
    screenshot(page, "support-ticket-1280", full_page=True)
    page.click("#edit button.btn-approve")
    expect(page.locator(".messages [role=status]")).to_contain_text(
        "you wrote it, so someone else approves it"
    )
    reply = ProposedAction.objects.get(ticket=handed, kind="post_public_reply")
    assert (reply.status, reply.proposed_by, reply.payload["body"]) == (
        "pending_approval",
        "user:priya",
        edited,
    )
    expect(page.locator("#approve-form")).to_have_count(0)  # four eyes: not hers to approve

    # Tom, another support lead, approves it from the ticket's page with the keyboard.
    tom = new_page()
    tom_errors = _watch_console(tom)
    _login(tom, "tom")
    tom.goto(f"/support/tickets/{handed.pk}/")
    expect(tom.locator(".badge.state-waiting")).to_have_text("Waiting for approval")
    _shortcuts_ready(tom)
    tom.keyboard.press("a")
    expect(tom.locator(".messages [role=status]")).to_contain_text(f"Approved reply #{reply.pk}")
    reply.refresh_from_db()
    assert reply.status == "approved" and reply.decisions.get().decided_by.username == "tom"
    assert errors == [] and tom_errors == [], errors + tom_errors


def test_a_support_lead_edits_the_bots_waiting_reply_and_approves_it(new_page):
    tickets = _tickets()
    waiting = tickets["waiting"]
    page = new_page()
    errors = _watch_console(page)
    _login(page, "priya")
    page.goto("/support/tickets/?state=waiting")
    expect(page.locator("[data-queue-row]")).to_have_count(1)
    _shortcuts_ready(page)
    page.keyboard.press("e")  # the selected ticket's reply, to edit
    expect(page).to_have_url(re.compile(rf"/support/tickets/{waiting.pk}/#edit$"))
    expect(page.locator("#edit")).to_be_visible()
    page.fill(
        "#reply_body", "Hi Ana, we use the Visa rate shown in the app when you pay, with no fee on top."
    )
    page.fill("#reply_comment", "name the rate and the fee")
    page.click("#edit button.btn-approve")
    expect(page.locator(".messages [role=status]")).to_contain_text("with your edits")
    reply = ProposedAction.objects.get(ticket=waiting)
    decision = reply.decisions.get()
    assert reply.status == "approved" and decision.outcome == "edit_approve"
    assert reply.payload["body"].startswith("Hi Ana, we use the Visa rate")
    assert errors == [], errors


def test_the_ticket_pages_fit_a_phone(new_page, screenshot):
    tickets = _tickets()
    page = new_page(390, 844)
    errors = _watch_console(page)
    _login(page, "priya")
    page.goto("/support/tickets/")
    expect(page.locator("[data-queue-row]").first).to_be_visible()
    _no_sideways_scroll(page)
    screenshot(page, "support-tickets-390", full_page=True)
    page.goto(f"/support/tickets/{tickets['handed'].pk}/#edit")
    expect(page.locator("#edit")).to_be_visible()
    _no_sideways_scroll(page)
    screenshot(page, "support-ticket-390", full_page=True)
    assert errors == [], errors
