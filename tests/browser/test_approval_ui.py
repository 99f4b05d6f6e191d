"""An SDR manager works the approval queue in a real browser (Debian's chromium via Playwright).

Given a queue of proposals routed to "SDR managers", when Sofia approves, edits then approves,
rejects, or drives the queue with the keyboard, then the decisions are stored as she made them;
an overdue item escalates to "Ops admins" and both teams see that; both pages fit a phone.
Screenshots of the pages go to docs/screenshots/ (linked from docs/approval-ui.md).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from approvals.models import EscalationStep, ProposedAction
from approvals.services import action_reject, actions_escalate_overdue
from scoring.models import LeadScore
from tests.factories import (
    AccountFactory,
    LeadFactory,
    ModelVersionFactory,
    ProposedActionFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-1"  # the factories' password


def _queue() -> dict:
    """A realistic queue for Sofia: sales proposals with SLAs, scores and reasons, one support item."""
    sdr, ops = (
        Group.objects.get_or_create(name="SDR managers")[0],
        Group.objects.get_or_create(name="Ops admins")[0],
    )
    EscalationStep.objects.create(group=sdr, escalate_to=ops, sla_minutes=60)
    sofia = UserFactory(username="sofia", first_name="Sofia", last_name="Reyes")
    sofia.groups.add(sdr)
    olivia = UserFactory(username="olivia", first_name="Olivia", last_name="Brandt")
    olivia.groups.add(ops)
    owner = UserFactory(username="marco")
    bob = UserFactory(username="bob")
    bob.groups.add(sdr)
    model = ModelVersionFactory(name="lead-xgb", version=3)
    now = timezone.now()

    def lead(first, last, company, **kw):
        account = AccountFactory(name=company, account_value=Decimal(kw.pop("account_value", 0)))
        made = LeadFactory(first_name=first, last_name=last, company_name=company, account=account, **kw)
        LeadScore.objects.create(
            lead=made, model_version=model, role="champion", probability=0.87, score=87, tier="hot",
            reasons=[
                {"feature": "pricing_visits", "value": 6, "points": 11.4, "text": "Pricing page visits 6: +11 points"},
                {"feature": "title_seniority", "value": "VP", "points": 7.9, "text": "Seniority VP: +8 points"},
                {"feature": "days_since_touch", "value": 41, "points": -4.2, "text": "Days since last touch 41: −4 points"},
                {"feature": "employees", "value": 180, "points": 2.6, "text": "Employees 180: +3 points"},
            ],
            features_hash="demo", scored_at=now,
        )  # fmt: skip
        return made

    def item(
        kind, target, payload, rationale, *, risk="medium", sla=timedelta(hours=3), confidence=0.8, **kw
    ):
        return ProposedActionFactory(
            kind=kind, lead=target, payload=payload, rationale=rationale, risk_level=risk, confidence=confidence,
            status="pending_approval", approver_group=sdr, model_version=model, sla_due_at=now + sla,
            policy_reasons=["Sales writes go to SDR managers: applies to every action"], **kw,
        )  # fmt: skip

    ada = lead(
        "Ada", "Moreno", "Northwind Logistics", deal_value=Decimal(42000), title="VP Operations", owner=owner
    )
    earlier = item(
        "send_email", ada, {"to": "ada@northwind.example", "subject": "Hello", "body": "Hi Ada"},
        "First touch after the pricing-page visits.", sla=timedelta(hours=-30),
    )  # fmt: skip
    action_reject(
        action_id=earlier.pk, user=bob, reason_code="bad_timing", comment="She is on holiday until Monday."
    )
    items = {
        "assign": item(
            "assign_owner", ada, {"owner": "sofia", "queue": "Inbound SDR queue"},
            "Hot inbound lead whose owner is on leave; move to the inbound SDR queue so someone calls today.",
            sla=timedelta(minutes=40), matched_rule="Hot and uncontacted → SDR queue", confidence=0.74,
        ),
        "cadence": item(
            "enrol_cadence", lead("Ben", "Okafor", "Globex", deal_value=Decimal(18000)),
            {"cadence": "Inbound hot – 7 steps", "steps": 7, "queue": "Inbound SDR queue"},
            "Uncontacted and engaged this week (6 pricing-page visits); start the 7-step cadence.",
            sla=timedelta(hours=2), matched_rule="Hot and uncontacted → SDR queue + 7-step cadence", confidence=0.91,
        ),
        "email": item(
            "send_email", lead("Chen", "Li", "Initech", email="chen@initech.example"),
            {"to": "chen@initech.example", "subject": "Quick question",
             "body": "Hi Chen, saw your team looking at our pricing. Worth a 15 minute call this week?"},
            "Replied to a webinar survey asking about pricing; a short personal follow-up fits.",
            sla=timedelta(hours=3), matched_rule="Webinar follow-up email", confidence=0.58,
        ),
        "nurture": item(
            "add_to_nurture", lead("Dana", "Ivanova", "Umbrella Corp"),
            {"track": "Mid-funnel nurture", "content": "ROI calculator"},
            "Warm lead with an open opportunity; nurture with relevant content.",
            risk="low", sla=timedelta(hours=20), matched_rule="Warm with open opportunity → nurture", confidence=0.86,
        ),
        "task": item(
            "create_task", lead("Emil", "Berg", "Hooli", account_value=250000),
            {"subject": "Call about expansion", "due_in_days": 2},
            "Existing customer account (250k) researching a second product line.",
            risk="high", sla=timedelta(hours=6), matched_rule="Expansion signal → AE task", confidence=0.66,
        ),
    }  # fmt: skip
    return {"sdr": sdr, "ops": ops, "sofia": sofia, "olivia": olivia, "items": items}


def _login(page: Page, username: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_be_visible()


def _no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"page scrolls sideways: {widths[0]}px content in {widths[1]}px"


def test_it_approves_an_item(new_page, screenshot):
    data = _queue()
    assign = data["items"]["assign"]
    page = new_page()
    _login(page, "sofia")
    page.goto("/approvals/")
    expect(page.locator("h1")).to_contain_text("5 waiting for you")
    expect(page.locator(f"#item-{assign.pk} .sla-soon")).to_be_visible()
    _no_sideways_scroll(page)
    screenshot(page, "queue-1280")

    page.click(f"#item-{assign.pk} a.open")
    expect(page.locator("h1")).to_contain_text("Assign owner")
    expect(page.locator("svg.shap")).to_contain_text("Pricing page visits 6")
    expect(page.locator("table.change")).to_contain_text("marco")  # the owner now → sofia
    expect(page.locator(".history")).to_contain_text("Rejected by bob — Bad timing")
    _no_sideways_scroll(page)
    screenshot(page, "detail-1280", full_page=True)

    page.click("#approve-form button")
    expect(page.locator(".messages")).to_contain_text(f"Approved #{assign.pk}")
    assign.refresh_from_db()
    assert assign.status == "approved" and assign.decisions.get().decided_by.username == "sofia"


def test_it_edits_then_approves_with_the_diff_visible(new_page, screenshot):
    data = _queue()
    email = data["items"]["email"]
    page = new_page()
    _login(page, "sofia")
    page.goto(f"/approvals/{email.pk}/")
    page.click("[data-open-panel=edit]")
    expect(page.locator("#edit")).to_be_visible()
    expect(page.locator("#edit-diff")).to_contain_text("No changes yet")
    page.fill("#id_p__subject", "Quick question about Q3")
    page.fill(
        "#id_p__body", "Hi Chen, saw your team looking at our pricing. Worth a 20 minute call next week?"
    )
    diff = page.locator("#edit-diff")
    expect(diff).to_contain_text("subject: Quick question → Quick question about Q3")
    expect(diff.locator(".word-diff del")).to_have_text(["15", "this"])
    expect(diff.locator(".word-diff ins")).to_have_text(["20", "next"])
    screenshot(page, "edit-diff-1280")

    page.click("#edit button.btn-approve")
    expect(page.locator(".messages")).to_contain_text("With your edits")
    email.refresh_from_db()
    decision = email.decisions.get()
    assert decision.outcome == "edit_approve"
    assert email.payload["subject"] == "Quick question about Q3"
    assert decision.payload_diff["subject"] == {"from": "Quick question", "to": "Quick question about Q3"}


def test_it_rejects_with_a_reason(new_page):
    data = _queue()
    task = data["items"]["task"]
    page = new_page()
    _login(page, "sofia")
    page.goto(f"/approvals/{task.pk}/")
    page.click("[data-open-panel=reject]")
    page.select_option("#reject_reason_code", "wrong_action")
    page.fill("#reject textarea[name=comment]", "The AE already owns this; no task needed.")
    # Hovered, the button keeps readable text (it turned near-white with its white text on it).
    button = page.locator("#reject button[type=submit]")
    button.hover()
    colours = button.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]")
    assert colours[0] == "rgb(255, 255, 255)" and colours[1] not in (
        "rgb(255, 255, 255)",
        "rgb(250, 251, 252)",
    )
    page.click("#reject button[type=submit]")
    expect(page.locator(".messages")).to_contain_text(f"Rejected #{task.pk}")
    decision = task.decisions.get()
    assert (decision.outcome, decision.reason_code) == ("reject", "wrong_action")
    assert decision.comment == "The AE already owns this; no task needed."


def _shortcuts_ready(page):
    """Wait until the page's script has attached the shortcuts: a key pressed before is lost."""
    expect(page.locator("html[data-shortcuts=ready]")).to_have_count(1)


def test_the_keyboard_shortcuts_move_approve_and_open_reject(new_page):
    _queue()
    page = new_page()
    _login(page, "sofia")
    page.goto("/approvals/")
    _shortcuts_ready(page)
    rows = page.locator("[data-queue-row]")
    first_id, second_id = rows.nth(0).get_attribute("data-id"), rows.nth(1).get_attribute("data-id")
    expect(rows.nth(0)).to_have_class(re.compile("is-selected"))
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile("is-selected"))
    expect(rows.nth(0)).not_to_have_class(re.compile("is-selected"))
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile("is-selected"))
    page.keyboard.press("j")

    page.keyboard.press("a")  # approves the selected (second) item
    expect(page.locator(".messages")).to_contain_text(f"Approved #{second_id}")
    assert ProposedAction.objects.get(pk=second_id).status == "approved"
    assert ProposedAction.objects.get(pk=first_id).status == "pending_approval"

    _shortcuts_ready(page)
    page.keyboard.press("?")
    expect(page.locator("#kbd-help")).to_be_visible()
    page.keyboard.press("Escape")  # closes it, as Esc closes any dialog
    expect(page.locator("#kbd-help")).to_be_hidden()
    page.keyboard.press("?")
    expect(page.locator("#kbd-help")).to_be_visible()
    page.keyboard.press("?")
    selected = page.locator("[data-queue-row].is-selected").get_attribute("data-id")
    page.keyboard.press("r")
    expect(page).to_have_url(re.compile(rf"/approvals/{selected}/#reject$"))
    _shortcuts_ready(page)
    expect(page.locator("#reject")).to_be_visible()
    expect(page.locator("#reject_reason_code")).to_be_focused()
    # Typing in a field does not trigger shortcuts.
    page.fill("#reject textarea[name=comment]", "")
    page.focus("#reject textarea[name=comment]")
    page.keyboard.type("a reason")
    assert ProposedAction.objects.get(pk=selected).status == "pending_approval"

    page.locator("#reject textarea[name=comment]").blur()
    page.keyboard.press("u")  # back to the queue, the same item still selected
    expect(page).to_have_url(re.compile(r"/approvals/$"))
    expect(page.locator("[data-queue-row].is-selected")).to_have_attribute("data-id", selected)
    _shortcuts_ready(page)
    page.keyboard.press("e")
    expect(page).to_have_url(re.compile(rf"/approvals/{selected}/#edit$"))
    expect(page.locator("#edit")).to_be_visible()


def test_an_overdue_item_is_escalated_and_both_teams_see_it(new_page):
    """Sofia sees the item overdue; after the SLA job runs it has left her queue for Ops admins, and
    her queue says so (she may no longer decide it); Olivia in Ops admins sees it escalated to her team."""
    data = _queue()
    late = data["items"]["cadence"]
    ProposedAction.objects.filter(pk=late.pk).update(sla_due_at=timezone.now() - timedelta(minutes=10))
    page = new_page()
    _login(page, "sofia")
    page.goto("/approvals/")
    expect(page.locator(f"#item-{late.pk} .sla-overdue")).to_contain_text("Overdue")
    expect(page.locator(".stat-overdue")).to_have_text("1 overdue")

    assert actions_escalate_overdue().escalated == 1
    page.reload()
    expect(page.locator(f"#item-{late.pk}")).to_have_count(0)
    escalated = page.locator(f"[data-escalated-id='{late.pk}']")
    expect(escalated).to_contain_text("Escalated to Ops admins")

    ops_page = new_page()
    _login(ops_page, "olivia")
    ops_page.goto("/approvals/")
    expect(ops_page.locator(f"#item-{late.pk} .escalated")).to_have_text("Escalated to Ops admins")
    expect(ops_page.locator(f"#item-{late.pk} .sla-soon, #item-{late.pk} .sla-ok")).to_have_count(1)


def test_the_queue_and_detail_pages_fit_a_phone(new_page, screenshot):
    data = _queue()
    page = new_page(390, 844)
    _login(page, "sofia")
    page.goto("/approvals/")
    expect(page.locator("[data-queue-row]").first).to_be_visible()
    _no_sideways_scroll(page)
    screenshot(page, "queue-390", full_page=True)
    page.goto(f"/approvals/{data['items']['assign'].pk}/")
    expect(page.locator("svg.shap")).to_be_visible()
    _no_sideways_scroll(page)
    screenshot(page, "detail-390", full_page=True)
