"""The role table (pure) and the groups the migration makes from it."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command

from security.role_groups import role_groups_sync
from security.roles import ROLE_GROUPS, ROLES, Role, access_for, api_only
from tests.factories import user_in_role


def test_it_gives_each_role_its_domains_and_nothing_more():
    sdr = access_for(group_names=["SDR managers"])
    assert sdr.see_domains == {"sales"} and sdr.decide_domains == {"sales"}
    assert sdr.leads and not sdr.tickets and sdr.team_scoped_sales
    support = access_for(group_names=["Support leads"])
    assert support.see_domains == {"support"} and support.tickets and not support.leads
    auditor = access_for(group_names=["Auditors"])
    assert auditor.see_domains == {"sales", "support", "operations"} and not auditor.decides_anything
    assert auditor.export_audit and auditor.all_routes
    assert api_only(access_for(group_names=["Integration accounts"]))
    assert not api_only(access_for(group_names=["Integration accounts", "Ops admins"]))


def test_routing_limits_what_a_team_sees_unless_the_role_oversees_every_route():
    sdr = access_for(group_names=["SDR managers"])
    assert sdr.may_decide(domain="sales", routed_to_mine=True)
    assert not sdr.may_see(domain="sales", routed_to_mine=False)
    assert not sdr.may_see(domain="support", routed_to_mine=True)
    ops = access_for(group_names=["Ops admins"])
    assert ops.may_decide(domain="support", routed_to_mine=False)
    auditor = access_for(group_names=["Auditors"])
    assert auditor.may_see(domain="sales", routed_to_mine=False)
    assert not auditor.may_decide(domain="sales", routed_to_mine=False)


def test_groups_that_are_no_role_add_nothing_and_a_superuser_reaches_everything():
    nobody = access_for(group_names=["Sales directors"])
    assert not nobody.see_domains and not nobody.leads and not nobody.pages and not api_only(nobody)
    root = access_for(group_names=[], is_superuser=True)
    assert root.may_decide(domain="operations", routed_to_mine=False) and root.leads and root.tickets


def test_a_manager_who_also_has_a_role_seeing_all_sales_is_not_narrowed_to_teams():
    assert not access_for(group_names=["SDR managers", "Ops admins"]).team_scoped_sales


def test_every_role_has_a_group_and_a_spec():
    assert set(ROLE_GROUPS) == set(ROLES) == set(Role)


@pytest.mark.django_db
def test_the_groups_hold_their_permissions_and_personal_data_stays_away_from_auditors():
    role_groups_sync(apps=apps)
    users = {name: user_in_role(name) for name in ROLE_GROUPS.values()}
    may_unmask = {name for name, user in users.items() if user.has_perm("security.view_personal_data")}
    assert may_unmask == {"SDR managers", "Support leads", "Ops admins", "Integration accounts"}
    assert users["Auditors"].has_perm("audit.view_decisionlogentry")
    assert not users["Auditors"].has_perm("approvals.change_proposedaction")
    assert users["Integration accounts"].has_perms(["approvals.add_proposedaction", "sales.add_lead"])
    assert not users["Integration accounts"].has_perm("approvals.change_proposedaction")
    assert users["Ops admins"].has_perm("operations.change_killswitch")


@pytest.mark.django_db
def test_syncing_twice_changes_nothing(capsys):
    first = role_groups_sync(apps=apps)
    call_command("roles_sync")
    assert role_groups_sync(apps=apps) == first
    assert "Auditors:" in capsys.readouterr().out
