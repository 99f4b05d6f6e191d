"""Object-level scoping: nobody reaches another scope's item by guessing its id (404, recorded),
whether through the pages or the API; SDR managers with teams see their teams' sales work only."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

import security.selectors
from approvals.models import ProposedAction
from approvals.scoping import actions_scoped
from sales.models import SdrQueue
from sales.scoping import leads_scoped
from security.models import AccessDenial
from tests.factories import (
    LeadFactory,
    ProposedActionFactory,
    TicketFactory,
    UserFactory,
    payload_seen,
    user_in_role,
)

pytestmark = pytest.mark.django_db


def _pending(**kwargs):
    return ProposedActionFactory(status="pending_approval", risk_level="low", **kwargs)


@pytest.fixture
def sales_item():
    return _pending(domain="sales")


@pytest.fixture
def support_item():
    return _pending(domain="support", lead=None, ticket=TicketFactory(), payload={"body": "Noted"})


def _browser(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_an_sdr_manager_guessing_a_support_items_id_gets_404_and_the_attempt_is_recorded(
    support_item, caplog
):
    sofia = user_in_role("SDR managers", username="sofia")
    page, api = _browser(sofia), _api(sofia)
    pk = support_item.pk
    with caplog.at_level(logging.WARNING, logger="security.services"):
        answers = [
            page.get(f"/approvals/{pk}/").status_code,
            page.post(f"/approvals/{pk}/approve/").status_code,
            page.post(f"/approvals/{pk}/reject/", {"reason_code": "bad_timing"}).status_code,
            api.get(f"/api/v1/actions/{pk}/").status_code,
            api.post(f"/api/v1/actions/{pk}/approve/", {}, format="json").status_code,
            api.get(f"/api/v1/tickets/{support_item.ticket_id}/").status_code,
        ]
    assert answers == [404] * 6
    support_item.refresh_from_db()
    assert support_item.status == "pending_approval" and not support_item.decisions.exists()
    denials = list(AccessDenial.objects.order_by("id").values_list("username", "method", "path", "object_id"))
    assert denials == [
        ("sofia", "GET", f"/approvals/{pk}/", str(pk)),
        ("sofia", "POST", f"/approvals/{pk}/approve/", str(pk)),
        ("sofia", "POST", f"/approvals/{pk}/reject/", str(pk)),
        ("sofia", "GET", f"/api/v1/actions/{pk}/", str(pk)),
        ("sofia", "POST", f"/api/v1/actions/{pk}/approve/", str(pk)),
        ("sofia", "GET", f"/api/v1/tickets/{support_item.ticket_id}/", str(support_item.ticket_id)),
    ]
    logged = [r for r in caplog.records if getattr(r, "event", "") == "access_denied"]
    assert (
        len(logged) == 6 and logged[0].user == "sofia" and logged[0].object_type == "approvals.proposedaction"
    )


def test_a_support_lead_guessing_a_sales_items_id_gets_404_and_the_attempt_is_recorded(sales_item):
    liam = user_in_role("Support leads", username="liam")
    page, api = _browser(liam), _api(liam)
    pk, lead = sales_item.pk, sales_item.lead_id
    assert page.get(f"/approvals/{pk}/").status_code == 404
    assert page.post(f"/approvals/{pk}/defer/").status_code == 404
    assert page.get(f"/leads/{lead}/").status_code == 404
    assert (
        api.post(f"/api/v1/actions/{pk}/reject/", {"reason_code": "bad_timing"}, format="json").status_code
        == 404
    )
    assert api.get(f"/api/v1/leads/{lead}/").status_code == 404
    sales_item.refresh_from_db()
    assert sales_item.status == "pending_approval" and not sales_item.decisions.exists()
    assert list(AccessDenial.objects.values_list("object_type", flat=True).order_by("id")) == [
        "approvals.proposedaction",
        "approvals.proposedaction",
        "sales.lead",
        "approvals.proposedaction",
        "sales.lead",
    ]
    # Out-of-scope items are absent from the lists too, and the bulk approval skips them.
    assert api.get("/api/v1/actions/").json()["count"] == 0
    asked = page.post("/approvals/bulk-approve/", {"ids": [pk]}, follow=True)  # the confirmation step
    assert "None of the ticked items is one you may approve." in asked.content.decode()
    confirmed = page.post("/approvals/bulk-approve/", {"ids": [pk], "confirm": "1"}, follow=True)
    assert f"action #{pk} not found" in confirmed.content.decode()
    assert ProposedAction.objects.get(pk=pk).status == "pending_approval"


def test_an_id_that_does_not_exist_is_404_without_a_record(sales_item):
    sofia = user_in_role("SDR managers")
    assert _browser(sofia).get("/approvals/999999/").status_code == 404
    assert _api(sofia).get("/api/v1/leads/999999/").status_code == 404
    assert _api(sofia).get("/api/v1/leads/not-an-id/").status_code == 404
    assert not AccessDenial.objects.exists()


def test_the_same_rule_lets_the_right_role_decide_on_either_path(sales_item, support_item):
    sofia, liam = user_in_role("SDR managers", username="sofia"), user_in_role("Support leads")
    seen = {"payload_sha256": payload_seen(sales_item)}
    assert (
        _api(sofia).post(f"/api/v1/actions/{sales_item.pk}/approve/", seen, format="json").status_code == 200
    )
    seen = {"payload_sha256": payload_seen(support_item)}
    assert _browser(liam).post(f"/approvals/{support_item.pk}/approve/", seen).status_code == 302
    assert ProposedAction.objects.filter(status="approved").count() == 2
    assert not AccessDenial.objects.exists()


def test_an_item_routed_to_another_group_of_the_same_domain_stays_hidden_from_a_manager(sales_item):
    sales_item.approver_group = Group.objects.create(name="Sales directors")
    sales_item.save(update_fields=["approver_group"])
    sofia = user_in_role("SDR managers")
    assert _browser(sofia).get(f"/approvals/{sales_item.pk}/").status_code == 404
    assert _browser(user_in_role("Auditors")).get(f"/approvals/{sales_item.pk}/").status_code == 200


def test_an_auditor_reads_everything_and_decides_nothing(sales_item, support_item):
    auditor = user_in_role("Auditors", username="ava")
    page, api = _browser(auditor), _api(auditor)
    assert page.get(f"/approvals/{support_item.pk}/").status_code == 200
    assert api.get("/api/v1/actions/").json()["count"] == 2
    assert page.post(f"/approvals/{sales_item.pk}/approve/").status_code == 403
    assert api.post(f"/api/v1/actions/{sales_item.pk}/approve/", {}, format="json").status_code == 403
    assert page.post("/approvals/bulk-approve/", {"ids": [sales_item.pk]}).status_code == 403
    assert ProposedAction.objects.filter(status="pending_approval").count() == 2


def test_an_integration_account_uses_the_api_and_no_page(sales_item):
    bot = user_in_role("Integration accounts", username="hubspot-sync")
    page = _browser(bot)
    for path in ("/", "/approvals/", f"/approvals/{sales_item.pk}/", "/leads/", "/admin/"):
        response = page.get(path)
        assert response.status_code == 403 and b"integration account" in response.content, path
    # Over the API it reads the actions it proposed (only those: tests/redteam/test_decisions_and_reads.py).
    assert page.get(f"/api/v1/actions/{sales_item.pk}/").status_code == 404
    ProposedAction.objects.filter(pk=sales_item.pk).update(proposed_by_user=bot)
    assert page.get(f"/api/v1/actions/{sales_item.pk}/").status_code == 200
    assert page.post("/logout/").status_code == 302


def test_a_user_in_no_role_reaches_no_item(sales_item):
    nobody = UserFactory()
    assert _browser(nobody).get("/approvals/").status_code == 403
    assert _api(nobody).get("/api/v1/actions/").status_code == 403
    assert _api(nobody).get(f"/api/v1/actions/{sales_item.pk}/").status_code == 404


# --- Teams -------------------------------------------------------------------------------------


@pytest.fixture
def teams():
    """Two SDR teams: Sofia manages "West", Bob manages "East"; Wes and Eve work in them."""
    sofia, bob = user_in_role("SDR managers", username="sofia"), user_in_role("SDR managers", username="bob")
    wes, eve = UserFactory(username="wes"), UserFactory(username="eve")
    west = SdrQueue.objects.create(name="West")
    west.members.add(sofia, wes)
    SdrQueue.objects.create(name="East").members.add(bob, eve)
    return {"sofia": sofia, "bob": bob, "wes": wes, "eve": eve}


def test_with_teams_a_manager_sees_their_teams_sales_items_and_unassigned_ones(teams):
    west = _pending(domain="sales", lead=LeadFactory(owner=teams["wes"]))
    east = _pending(domain="sales", lead=LeadFactory(owner=teams["eve"]))
    anyone = _pending(domain="sales", lead=LeadFactory(owner=None))
    sofia = teams["sofia"]
    assert set(actions_scoped(user=sofia).values_list("pk", flat=True)) == {west.pk, anyone.pk}
    page = _browser(sofia)
    queue = page.get("/approvals/").context["page"].object_list
    assert {a.pk for a in queue} == {west.pk, anyone.pk}
    assert page.get(f"/approvals/{east.pk}/").status_code == 404
    assert _api(sofia).post(f"/api/v1/actions/{east.pk}/approve/", {}, format="json").status_code == 404
    assert AccessDenial.objects.filter(username="sofia", object_id=str(east.pk)).count() == 2
    assert (
        _api(teams["bob"])
        .post(f"/api/v1/actions/{east.pk}/approve/", {"payload_sha256": payload_seen(east)}, format="json")
        .status_code
        == 200
    )


def test_with_teams_a_manager_sees_the_leads_of_their_teams_members_and_unowned_ones(teams):
    mine, theirs, unowned = (
        LeadFactory(owner=teams["wes"]),
        LeadFactory(owner=teams["eve"]),
        LeadFactory(owner=None),
    )
    sofia = teams["sofia"]
    assert set(leads_scoped(user=sofia).values_list("pk", flat=True)) == {mine.pk, unowned.pk}
    assert _browser(sofia).get(f"/leads/{theirs.pk}/").status_code == 404
    assert _api(sofia).get("/api/v1/leads/").json()["count"] == 2
    assert AccessDenial.objects.get().object_type == "sales.lead"


def test_without_teams_a_manager_sees_all_sales_work_and_an_inactive_queue_does_not_count(teams):
    other = user_in_role("SDR managers", username="otto")
    SdrQueue.objects.create(name="Old", is_active=False).members.add(other)
    east = _pending(domain="sales", lead=LeadFactory(owner=teams["eve"]))
    assert list(actions_scoped(user=other).values_list("pk", flat=True)) == [east.pk]


def test_the_queue_counts_of_two_teams_are_not_shared(teams, settings):
    settings.APPROVAL_QUEUE_FACETS_SECONDS = 30  # the cached counts, keyed by what the scope depends on
    _pending(domain="sales", lead=LeadFactory(owner=teams["wes"]))
    _pending(domain="sales", lead=LeadFactory(owner=teams["eve"]))
    _pending(domain="sales", lead=LeadFactory(owner=teams["eve"]))
    assert _browser(teams["sofia"]).get("/approvals/").context["counts"].total == 1
    assert _browser(teams["bob"]).get("/approvals/").context["counts"].total == 2


def test_a_scoped_list_page_keeps_a_constant_number_of_queries(teams, django_assert_max_num_queries):
    page = _browser(teams["sofia"])
    for _ in range(3):
        _pending(domain="sales", lead=LeadFactory(owner=teams["wes"]))
    _pending(domain="sales", lead=LeadFactory(owner=teams["eve"]))  # East's: not listed
    page.get("/actions/")
    for _ in range(30):
        _pending(domain="sales", lead=LeadFactory(owner=teams["wes"]))
    with django_assert_max_num_queries(12):
        response = page.get("/actions/")
    assert len(response.context["page"].object_list) == 33


def test_without_the_sales_teams_lookup_a_team_scoped_manager_is_refused_not_shown_everything(
    teams, monkeypatch
):
    # Sales registers the lookup at startup; without it security cannot narrow to a team, and says so.
    monkeypatch.setattr(security.selectors, "_TEAMS_OF", {})
    _pending(domain="sales", lead=LeadFactory(owner=teams["eve"]))
    with pytest.raises(ImproperlyConfigured, match="user_teams_register"):
        actions_scoped(user=teams["sofia"]).count()
