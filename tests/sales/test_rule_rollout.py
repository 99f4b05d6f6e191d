"""Canary and shadow playbook rules: a stable share, logged shadow matches, one-click promote/rollback."""

from __future__ import annotations

import pytest
from django.urls import reverse

from approvals.models import ProposedAction
from audit.models import DecisionLogEntry
from sales.demo_playbook import demo_playbook_ensure
from sales.models import PlaybookRule, ShadowMatch
from sales.playbook import in_canary
from sales.services import playbooks_run, rule_rollout_set
from tests.factories import LeadFactory, ModelVersionFactory, UserFactory
from tests.sales.test_playbook_services import score

pytestmark = pytest.mark.django_db


def test_the_canary_share_is_stable_and_about_right():
    picks = [in_canary(rule_id=4, lead_id=i, share=0.25) for i in range(4000)]
    assert picks == [in_canary(rule_id=4, lead_id=i, share=0.25) for i in range(4000)]
    assert 0.22 < sum(picks) / len(picks) < 0.28


@pytest.fixture
def hot_leads():
    version = ModelVersionFactory(status="champion", name="demo-b2b")
    demo_playbook_ensure()
    leads = [LeadFactory(status="new") for _ in range(80)]
    for lead in leads:
        score(lead, 90, version=version)
    return leads


def hot_rule():
    return PlaybookRule.objects.get(priority=10)


def trial_of(live, **kw):
    return PlaybookRule.objects.create(
        playbook=live.playbook, name="Hot → nurture instead (trial)", priority=live.priority,
        conditions=live.conditions, actions=[{"kind": "add_to_nurture", "payload": {"track": "Fast track"}}], **kw,
    )  # fmt: skip


def test_a_canary_replaces_its_rule_on_its_share_of_leads_only(hot_leads):
    live = hot_rule()
    canary = trial_of(live, canary_of=live, canary_share=0.3)
    playbooks_run(actor="test")
    by_rule = {}
    for rule_name, lead_id in ProposedAction.objects.values_list("matched_rule", "lead_id"):
        by_rule.setdefault(rule_name, set()).add(lead_id)
    on_canary = by_rule[canary.name]
    on_live = by_rule[live.name]
    assert on_canary.isdisjoint(on_live)
    assert on_canary | on_live == {lead.pk for lead in hot_leads}
    assert 10 <= len(on_canary) <= 40
    assert on_canary == {
        lead.pk for lead in hot_leads if in_canary(rule_id=live.pk, lead_id=lead.pk, share=0.3)
    }


def test_a_shadow_rule_proposes_nothing_but_records_what_it_would_have_done_once(hot_leads):
    live = hot_rule()
    shadow = trial_of(live, mode="shadow")
    summary = playbooks_run(actor="test")
    assert summary.shadow_matches == 80
    assert not ProposedAction.objects.filter(matched_rule=shadow.name).exists()
    assert ProposedAction.objects.filter(matched_rule=live.name).count() == 160  # the live rule still acts
    assert ShadowMatch.objects.filter(rule=shadow).count() == 80
    assert DecisionLogEntry.objects.filter(event_type="playbook.shadow_match").count() == 80
    playbooks_run(actor="test")
    assert ShadowMatch.objects.count() == 80
    assert DecisionLogEntry.objects.filter(event_type="playbook.shadow_match").count() == 80


def test_promoting_a_canary_switches_off_the_rule_it_tried(hot_leads):
    live = hot_rule()
    canary = trial_of(live, canary_of=live, canary_share=0.3)
    rule_rollout_set(rule_id=canary.pk, to="promote", actor="olivia")
    live.refresh_from_db()
    canary.refresh_from_db()
    assert (live.is_active, canary.canary_of, canary.mode) == (False, None, "live")
    playbooks_run(actor="test")
    assert set(ProposedAction.objects.values_list("matched_rule", flat=True)) == {canary.name}


def test_rolling_back_restores_the_live_rule_for_every_lead(hot_leads, client):
    live = hot_rule()
    canary = trial_of(live, canary_of=live, canary_share=0.5)
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:sales_playbookrule_change", args=[canary.pk])).content.decode()
    assert "(canary)" in page and "(live)" in page
    client.post(
        reverse("admin:sales_playbookrule_changelist"),
        {"action": "rollback_trial", "_selected_action": [canary.pk]},
    )
    canary.refresh_from_db()
    assert not canary.is_active
    playbooks_run(actor="test")
    assert ProposedAction.objects.filter(matched_rule=live.name).count() == 160
    assert DecisionLogEntry.objects.filter(event_type="playbook.rule_rollout").count() == 1


def test_a_canary_must_try_a_live_rule_of_the_same_playbook(hot_leads):
    from django.core.exceptions import ValidationError

    from sales.models import Playbook

    live = hot_rule()
    other = Playbook.objects.create(name="Other")
    with pytest.raises(ValidationError, match="same playbook"):
        PlaybookRule(
            playbook=other, name="x", conditions=live.conditions, actions=live.actions, canary_of=live
        ).full_clean()
    with pytest.raises(ValueError, match="neither a canary nor a shadow"):
        rule_rollout_set(rule_id=live.pk, to="rollback", actor="olivia")
