"""The approval pages: who sees what, decisions through the services, messages instead of errors,
constant query counts, bulk approval rules, deferral, and the feedback numbers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import Decision, EscalationStep, ProposedAction
from approvals.selectors import feedback_by_rule_and_model
from approvals.services import (
    DecisionError,
    action_approve,
    action_defer,
    action_reject,
    action_route,
    actions_escalate_overdue,
)
from audit.models import DecisionLogEntry
from scoring.models import LeadScore
from tests.factories import (
    LeadFactory,
    ModelVersionFactory,
    ProposedActionFactory,
    TicketFactory,
    UserFactory,
    payload_seen,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sdr_managers():
    return Group.objects.get_or_create(name="SDR managers")[0]


@pytest.fixture
def sofia(sdr_managers):
    user = UserFactory(username="sofia")
    user.groups.add(sdr_managers)
    return user


@pytest.fixture
def bob(sdr_managers):
    user = UserFactory(username="bob")
    user.groups.add(sdr_managers)
    return user


@pytest.fixture
def outsider():
    user = UserFactory(username="olga")
    user.groups.add(Group.objects.get_or_create(name="Support leads")[0])
    return user


@pytest.fixture
def as_sofia(client, sofia):
    client.force_login(sofia)
    return client


def _also_support_lead(user):
    """Support items are seen by support roles only (security.roles): these tests give Sofia both
    domains to exercise a queue that mixes them."""
    user.groups.add(Group.objects.get_or_create(name="Support leads")[0])


def _pending(group=None, **kwargs):
    action = action_route(action_id=ProposedActionFactory(**kwargs).pk)
    if group is not None:
        action.approver_group = group
        action.save(update_fields=["approver_group"])
    return action


def _messages(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- Who sees and decides what -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/approvals/", "/approvals/feedback/"])
def test_it_sends_anonymous_users_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_it_refuses_the_queue_to_a_user_in_no_approver_group(client):
    client.force_login(UserFactory(username="nobody"))
    assert client.get("/approvals/").status_code == 403


def test_it_hides_another_groups_item_from_an_outsider_and_refuses_their_decisions(
    client, outsider, sdr_managers
):
    item = _pending(group=sdr_managers, rationale="Only for SDR managers")
    client.force_login(outsider)
    assert "Only for SDR managers" not in client.get("/approvals/").content.decode()
    assert client.get(f"/approvals/{item.pk}/").status_code == 404
    for verb, data in [("approve", {}), ("reject", {"reason_code": "wrong_action"}), ("defer", {})]:
        assert client.post(f"/approvals/{item.pk}/{verb}/", data).status_code == 404
    assert client.post("/approvals/bulk-approve/", {"ids": [item.pk]}).status_code == 302
    item.refresh_from_db()
    assert item.status == "pending_approval" and not item.decisions.exists()


def test_it_only_accepts_decisions_by_post(as_sofia, sdr_managers):
    item = _pending(group=sdr_managers)
    assert as_sofia.get(f"/approvals/{item.pk}/approve/").status_code == 405


# --- The queue ---------------------------------------------------------------------------------


def test_it_lists_the_groups_items_with_counts_and_sla_badges(as_sofia, sofia, sdr_managers):
    _also_support_lead(sofia)
    now = timezone.now()
    late = _pending(group=sdr_managers, rationale="Late one", risk_level="high")
    ProposedAction.objects.filter(pk=late.pk).update(sla_due_at=now - timedelta(minutes=30))
    soon = _pending(
        group=sdr_managers, rationale="Soon one", ticket=TicketFactory(), lead=None, domain="support"
    )
    ProposedAction.objects.filter(pk=soon.pk).update(sla_due_at=now + timedelta(minutes=20))
    _pending(group=None, rationale="Unrouted one", risk_level="low")
    response = as_sofia.get("/approvals/")
    html = response.content.decode()
    assert response.status_code == 200
    assert [a.pk for a in response.context["page"].object_list][:2] == [late.pk, soon.pk]
    counts = response.context["counts"]
    assert (counts.total, counts.overdue, counts.due_soon) == (3, 1, 1)
    assert counts.by_domain == {"sales": 2, "support": 1, "operations": 0}
    assert counts.by_risk["high"] == 1 and counts.by_risk["low"] == 1
    assert 'class="badge sla-overdue"' in html and 'class="badge sla-soon"' in html
    assert "1 overdue" in html and "Unrouted one" in html


def test_it_filters_the_queue_by_each_filter(as_sofia, sofia, sdr_managers):
    _also_support_lead(sofia)
    v1, v2 = ModelVersionFactory(), ModelVersionFactory()
    a = _pending(group=sdr_managers, risk_level="low", confidence=0.9, matched_rule="Hot", model_version=v1)
    b = _pending(group=sdr_managers, risk_level="high", confidence=0.4, matched_rule="Warm", model_version=v2)
    c = _pending(group=sdr_managers, domain="support", lead=None, ticket=TicketFactory(), confidence=0.7)
    ProposedAction.objects.filter(pk=b.pk).update(sla_due_at=timezone.now() - timedelta(minutes=1))
    ProposedAction.objects.filter(pk=c.pk).update(sla_due_at=timezone.now() + timedelta(minutes=150))

    def ids(query):
        return {x.pk for x in as_sofia.get(f"/approvals/?{query}").context["page"].object_list}

    assert ids("domain=support") == {c.pk}
    assert ids("risk=low") == {a.pk}
    assert ids("sla=overdue") == {b.pk}
    assert ids("sla=1h") == {b.pk}
    assert ids("sla=4h") == {b.pk, c.pk}
    assert ids("min_conf=0.6") == {a.pk, c.pk}
    assert ids("max_conf=0.5") == {b.pk}
    assert ids("rule=Warm") == {b.pk}
    assert ids(f"model={v1.pk}") == {a.pk}
    assert ids("risk=nonsense&min_conf=abc&model=x") == {a.pk, b.pk, c.pk}
    choices = as_sofia.get("/approvals/").context["choices"]
    assert choices.rules == ["Hot", "Warm"] and {pk for pk, _ in choices.model_versions} == {v1.pk, v2.pk}


def test_it_renders_the_queue_in_a_constant_number_of_queries(as_sofia, sofia, sdr_managers):
    _also_support_lead(sofia)
    deferrer = UserFactory(username="dee")
    owners = [UserFactory(), UserFactory()]

    def make(n):
        for i in range(n):
            item = ProposedActionFactory(
                status="pending_approval",
                approver_group=sdr_managers if i % 2 else None,
                lead=LeadFactory(owner=owners[i % 2]),
                model_version=ModelVersionFactory(),
                risk_level="low",
                sla_due_at=timezone.now() + timedelta(minutes=i),
            )
            Decision.objects.create(action=item, outcome="defer", decided_by=deferrer)
        ProposedActionFactory(
            status="pending_approval", approver_group=sdr_managers, lead=None, ticket=TicketFactory(),
            domain="support", escalation_level=1,
        )  # fmt: skip

    make(5)
    with CaptureQueriesContext(connection) as few:
        response = as_sofia.get("/approvals/")
    assert len(response.context["page"].object_list) == 6
    make(60)
    with CaptureQueriesContext(connection) as many:
        response = as_sofia.get("/approvals/")
    assert len(response.context["page"].object_list) == 50
    assert response.content.decode().count("Deferred by dee") == 50
    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(many.captured_queries) <= 11  # 10, and the engaged kill switches (the banner)


# --- Decisions ---------------------------------------------------------------------------------


def test_it_approves_from_the_queue_and_goes_back_to_it(as_sofia, sdr_managers):
    item = _pending(group=sdr_managers)
    response = as_sofia.post(
        f"/approvals/{item.pk}/approve/",
        {"next": "/approvals/?risk=medium", "payload_sha256": payload_seen(item)},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/approvals/?risk=medium"
    assert f"Approved #{item.pk}" in _messages(response)[0]
    item.refresh_from_db()
    assert item.status == "approved"
    assert item.decisions.get().decided_by.username == "sofia"


def test_it_refuses_an_unsafe_next_address(as_sofia, sdr_managers):
    item = _pending(group=sdr_managers)
    response = as_sofia.post(
        f"/approvals/{item.pk}/approve/",
        {"next": "https://evil.example/", "payload_sha256": payload_seen(item)},
    )
    assert response["Location"] == "/approvals/"


def test_it_edits_then_approves_with_the_edit_recorded(as_sofia, sdr_managers):
    item = _pending(group=sdr_managers, payload={"cadence": "Inbound hot", "steps": 7, "queue": "Inbound"})
    response = as_sofia.post(
        f"/approvals/{item.pk}/approve/",
        {
            "edit": "1",
            "payload_sha256": payload_seen(item),
            "p__cadence": "Inbound warm",
            "p__steps": "5",
            "p__queue": "Inbound",
            "comment": "gentler",
        },
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == "approved"
    assert item.payload == {"cadence": "Inbound warm", "steps": 5, "queue": "Inbound"}
    decision = item.decisions.get()
    assert decision.outcome == "edit_approve" and decision.comment == "gentler"
    assert decision.payload_diff["steps"] == {"from": 7, "to": 5}


def test_it_shows_an_unreadable_edit_on_the_form_and_decides_nothing(as_sofia, sdr_managers):
    item = _pending(group=sdr_managers, payload={"cadence": "Inbound hot", "steps": 7})
    response = as_sofia.post(
        f"/approvals/{item.pk}/approve/", {"edit": "1", "p__cadence": "x", "p__steps": "many"}
    )
    assert response.status_code == 400
    assert "Enter a whole number." in response.content.decode()
    assert response.context["open_panel"] == "edit"
    item.refresh_from_db()
    assert item.status == "pending_approval" and item.payload["cadence"] == "Inbound hot"


def test_it_previews_edits_on_the_server_for_browsers_without_javascript(as_sofia, sdr_managers):
    item = _pending(group=sdr_managers, payload={"cadence": "Inbound hot", "steps": 7})
    response = as_sofia.post(
        f"/approvals/{item.pk}/approve/",
        {"edit": "1", "preview": "1", "p__cadence": "Inbound warm", "p__steps": "7"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r"<del>Inbound hot</del> → <ins>Inbound warm</ins>", html)
    item.refresh_from_db()
    assert item.status == "pending_approval"


def test_it_rejects_with_a_reason_and_asks_for_one_when_missing(as_sofia, sdr_managers):
    item = _pending(group=sdr_managers)
    missing = as_sofia.post(f"/approvals/{item.pk}/reject/", {"comment": "no"})
    assert missing.status_code == 400 and missing.context["open_panel"] == "reject"
    response = as_sofia.post(
        f"/approvals/{item.pk}/reject/", {"reason_code": "bad_timing", "comment": "Quarter end"}, follow=True
    )
    assert f"Rejected #{item.pk}" in _messages(response)[0]
    decision = Decision.objects.get(action=item)
    assert (decision.outcome, decision.reason_code, decision.comment) == (
        "reject",
        "bad_timing",
        "Quarter end",
    )


def test_it_defers_an_item_which_stays_in_the_queue_marked_with_who_deferred(as_sofia, sdr_managers):
    item = _pending(group=sdr_managers)
    response = as_sofia.post(f"/approvals/{item.pk}/defer/", {"comment": "waiting for the AE"}, follow=True)
    assert "Deferred by sofia" in response.content.decode()
    item.refresh_from_db()
    assert item.status == "pending_approval"
    assert item.decisions.get().outcome == "defer"
    entry = DecisionLogEntry.objects.filter(subject_id=str(item.pk), event_type="action.decided").get()
    assert entry.approval == {"decision": "defer", "approver": "sofia"}


def test_defer_refuses_an_item_already_decided(sofia, bob, sdr_managers):
    item = _pending(group=sdr_managers)
    action_approve(action_id=item.pk, user=bob, seen_payload_sha256=payload_seen(item.pk))
    with pytest.raises(DecisionError, match="decided by bob"):
        action_defer(action_id=item.pk, user=sofia)


def test_the_second_of_two_deciders_is_told_who_decided_first(as_sofia, bob, sdr_managers):
    item = _pending(group=sdr_managers)
    action_reject(action_id=item.pk, user=bob, reason_code="duplicate")
    response = as_sofia.post(
        f"/approvals/{item.pk}/approve/", {"payload_sha256": payload_seen(item)}, follow=True
    )
    assert response.status_code == 200
    assert "already rejected (decided by bob)" in _messages(response)[0]
    assert "Already rejected by <strong>bob</strong>" in response.content.decode()
    assert Decision.objects.filter(action=item).count() == 1


def test_bulk_approval_approves_low_risk_items_and_refuses_the_others_item_by_item(
    as_sofia, bob, sdr_managers
):
    low = [_pending(group=sdr_managers, risk_level="low") for _ in range(3)]
    medium = _pending(group=sdr_managers, risk_level="medium")
    taken = _pending(group=sdr_managers, risk_level="low")
    action_approve(action_id=taken.pk, user=bob, seen_payload_sha256=payload_seen(taken.pk))
    ids = [a.pk for a in [*low, medium, taken]]
    shown = {f"payload_sha256_{pk}": payload_seen(pk) for pk in ids}
    response = as_sofia.post(
        "/approvals/bulk-approve/", {"ids": ids, "next": "/approvals/", "confirm": "1", **shown}, follow=True
    )
    messages = _messages(response)
    assert messages[0] == "Approved 3, 2 not approved."
    assert f"action #{medium.pk} is medium risk; open it to decide" in messages
    assert f"action #{taken.pk} is already approved (decided by bob)" in messages
    assert set(ProposedAction.objects.filter(pk__in=ids, status="approved").values_list("pk", flat=True)) == {
        *(a.pk for a in low),
        taken.pk,
    }
    medium.refresh_from_db()
    assert medium.status == "pending_approval"


# --- The detail page ---------------------------------------------------------------------------


def test_the_detail_page_shows_the_proposal_the_record_the_change_the_reasons_and_the_history(
    as_sofia, bob, sdr_managers
):
    owner = UserFactory(username="ana")
    lead = LeadFactory(owner=owner, title="CTO", attributes={"industry": "Retail"})
    version = ModelVersionFactory()
    LeadScore.objects.create(
        lead=lead, model_version=version, role="champion", probability=0.9, score=91, tier="hot",
        reasons=[
            {"feature": "visits", "value": 12, "points": 14.0, "text": "Pricing page visits 12: +14 points"},
            {"feature": "size", "value": 8, "points": -3.0, "text": "Company size 8: −3 points"},
        ],
        features_hash="x", scored_at=timezone.now(),
    )  # fmt: skip
    earlier = _pending(group=sdr_managers, lead=lead, kind="send_email")
    action_reject(action_id=earlier.pk, user=bob, reason_code="bad_copy", comment="Too pushy")
    item = _pending(
        group=sdr_managers,
        lead=lead,
        kind="assign_owner",
        payload={"owner": "sofia", "queue": "Inbound"},
        rationale="Hot lead, owner on leave.",
        matched_rule="Hot and uncontacted",
        model_version=version,
    )
    with CaptureQueriesContext(connection) as queries:
        response = as_sofia.get(f"/approvals/{item.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hot lead, owner on leave." in html and "Hot and uncontacted" in html
    assert "writes need an approval" in html  # the policy's reason
    assert "Pricing page visits 12" in html and "+14 points" in html  # the SHAP chart with values
    assert "Retail" in html and "CTO" in html  # the record now
    assert re.search(r"<td>ana</td>\s*<td><ins>sofia</ins></td>", html)  # owner: ana → sofia
    assert "will set</span> Inbound" in html
    assert "Rejected by bob — Message copy not acceptable: “Too pushy”" in html
    assert len(queries.captured_queries) <= 11  # 10, and the engaged kill switches (the banner)


def test_the_detail_page_of_a_ticket_action_shows_the_ticket(as_sofia, sofia, sdr_managers):
    _also_support_lead(sofia)
    ticket = TicketFactory(subject="Refund please", assigned_group="Tier 1")
    item = _pending(
        group=sdr_managers, lead=None, ticket=ticket, domain="support", kind="set_ticket_status",
        payload={"status": "pending", "group": "Billing"},
    )  # fmt: skip
    html = as_sofia.get(f"/approvals/{item.pk}/").content.decode()
    assert "Ticket now" in html and "Refund please" in html
    assert re.search(r"<td>Tier 1</td>\s*<td><ins>Billing</ins></td>", html)


# --- Escalation and feedback -------------------------------------------------------------------


def test_an_item_escalated_away_is_listed_for_the_team_it_left(as_sofia, sdr_managers):
    ops = Group.objects.get_or_create(name="Ops admins")[0]
    EscalationStep.objects.create(group=sdr_managers, escalate_to=ops, sla_minutes=60)
    item = _pending(group=sdr_managers, rationale="Went overdue")
    ProposedAction.objects.filter(pk=item.pk).update(sla_due_at=timezone.now() - timedelta(minutes=5))
    assert actions_escalate_overdue().escalated == 1
    response = as_sofia.get("/approvals/")
    assert item.pk not in {a.pk for a in response.context["page"].object_list}
    assert [a.pk for a in response.context["escalated_away"]] == [item.pk]
    assert "Escalated to Ops admins" in response.content.decode()


def test_the_feedback_page_shows_override_rate_and_top_rejection_reasons_per_rule_and_model(
    as_sofia, bob, sdr_managers
):
    version = ModelVersionFactory()

    def decided(rule, how, reason=""):
        item = _pending(group=sdr_managers, matched_rule=rule, model_version=version, payload={"steps": 7})
        if how == "approve":
            action_approve(action_id=item.pk, user=bob, seen_payload_sha256=payload_seen(item.pk))
        elif how == "edit":
            action_approve(
                action_id=item.pk, user=bob, seen_payload_sha256=payload_seen(item.pk), edits={"steps": 3}
            )
        elif how == "defer":
            action_defer(action_id=item.pk, user=bob)
        else:
            # "Other" says what the reason is (issue 23).
            action_reject(
                action_id=item.pk, user=bob, reason_code=reason, comment="No" if reason == "other" else ""
            )

    for how, reason in [
        ("approve", ""),
        ("edit", ""),
        ("reject", "bad_timing"),
        ("reject", "bad_timing"),
        ("reject", "duplicate"),
        ("reject", "other"),
        ("reject", "wrong_action"),
        ("defer", ""),
    ]:
        decided("Hot", how, reason)  # fmt: skip
    decided("Warm", "approve")
    _pending(kind="account_lookup", matched_rule="Hot")  # decided by the policy: not counted

    with CaptureQueriesContext(connection) as queries:
        rows = feedback_by_rule_and_model()
    assert len(queries.captured_queries) == 2
    hot, warm = rows
    assert (hot.matched_rule, hot.model_version) == ("Hot", version.label)
    assert (hot.decisions, hot.approved, hot.edited, hot.rejected) == (7, 1, 1, 5)
    assert hot.override_rate == pytest.approx(6 / 7)
    assert hot.top_rejection_reasons[0] == ("Bad timing", 2) and len(hot.top_rejection_reasons) == 3
    assert (warm.decisions, warm.override_rate) == (1, 0.0)

    html = as_sofia.get("/approvals/feedback/").content.decode()
    assert "86%" in html and "Bad timing <b>2</b>" in html
