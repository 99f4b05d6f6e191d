"""The subjects registry: each app registers the records it owns; approvals finds, checks and shows
them, and reads their policy facts, without knowing any of them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from approvals import subjects
from approvals.changes import CHANGE, FieldChange
from approvals.models import ApprovalPolicy, ProposedAction
from approvals.services import action_route, action_submit
from approvals.subjects import FactSource, Subject, policy_facts, subject_named, subject_of, subject_register
from operations.change_control import change_propose
from operations.models import ChangeControl
from sales.demo_playbook import demo_playbook_ensure
from sales.models import PlaybookRule
from tests.factories import AccountFactory, LeadFactory, ProposedActionFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_each_app_registers_the_records_it_owns():
    assert [subject_named(name).title for name in ("lead", "ticket", "configuration")] == [
        "Lead",
        "Ticket",
        "Configuration",
    ]
    with pytest.raises(LookupError, match="no subject 'invoice'"):
        subject_named("invoice")


def test_another_subject_under_a_taken_name_is_refused():
    impostor = Subject(name="lead", title="Lead", holds=bool, record_of=bool, fields=dict)
    with pytest.raises(ImproperlyConfigured, match="'lead' is registered already"):
        subject_register(impostor)
    assert subject_named("lead").title == "Lead" and subject_named("lead") is not impostor


def test_an_action_acts_on_its_lead_its_ticket_its_setting_or_nothing():
    on_lead = ProposedActionFactory()
    on_ticket = ProposedActionFactory(
        kind="reply_to_ticket", domain="support", lead=None, ticket=TicketFactory()
    )
    on_setting = ProposedActionFactory(kind="config_change", domain="operations", lead=None)
    on_nothing = ProposedActionFactory(kind="flag_for_review", lead=None)
    assert [getattr(subject_of(a), "name", None) for a in (on_lead, on_ticket, on_setting, on_nothing)] == [
        "lead",
        "ticket",
        "configuration",
        None,
    ]


def test_a_leads_facts_come_from_the_lead_its_account_and_scoring():
    owner = UserFactory(username="oscar")
    lead = LeadFactory(
        deal_value=Decimal("1200"), owner=owner, account=AccountFactory(account_value=Decimal("90000"))
    )
    reassign = ProposedActionFactory(kind="assign_owner", lead=lead, payload={"owner": "sam"})
    ticket_reply = ProposedActionFactory(
        kind="reply_to_ticket", domain="support", lead=None, ticket=TicketFactory()
    )

    facts = policy_facts([reassign, ticket_reply])

    assert facts[reassign.pk] == {
        "deal_value": Decimal("1200"),
        "account_value": Decimal("90000"),
        "ownership_change": True,
        "score": None,  # never scored
        "drift_state": "insufficient",  # no champion model yet
    }
    assert facts[ticket_reply.pk] == {}


def test_the_facts_of_many_actions_take_as_many_queries_as_of_one():
    def queries_for(n: int) -> int:
        actions = [ProposedActionFactory(lead=LeadFactory(account=AccountFactory())) for _ in range(n)]
        with CaptureQueriesContext(connection) as captured:
            policy_facts(actions)
        return len(captured)

    assert queries_for(1) == queries_for(12)


def test_a_fact_source_of_another_app_reaches_the_policy(monkeypatch):
    """The routing service reads what a registered source knows: here a made-up source that scores
    tickets, and a policy that blocks the high-scored ones."""
    ticket = TicketFactory()
    monkeypatch.setitem(
        subjects._FACT_SOURCES,
        "ticket scores",
        FactSource("ticket scores", lambda actions: {a.pk: {"score": 95} for a in actions if a.ticket_id}),
    )
    ApprovalPolicy.objects.create(name="block hot tickets", outcome="block", score_at_least=90, priority=1)
    action = ProposedActionFactory(kind="reply_to_ticket", domain="support", lead=None, ticket=ticket)

    routed = action_route(action_id=action.pk)

    assert routed.status == "rejected"
    assert any("block hot tickets" in reason for reason in routed.policy_reasons)


def test_a_proposal_naming_a_record_is_resolved_and_checked_by_its_subject():
    lead = LeadFactory(source="hubspot", external_id="hs-77", email="ada@example.com")
    user = UserFactory(username="agent")
    made = action_submit(
        user=user, kind="send_email", payload={"to": "ada@example.com", "subject": "Hi", "body": "Hello"},
        rationale="r", confidence=0.5, idempotency_key="k1", lead=("hubspot", "hs-77"),
    )  # fmt: skip
    assert made.action.lead_id == lead.pk
    with pytest.raises(Exception, match="payload.to: must be the lead's own email address"):
        action_submit(
            user=user, kind="send_email", payload={"to": "eve@example.com", "subject": "Hi", "body": "Hello"},
            rationale="r", confidence=0.5, idempotency_key="k2", lead=lead.pk,
        )  # fmt: skip
    assert not ProposedAction.objects.filter(idempotency_key="k2").exists()


def test_the_approval_page_shows_a_configuration_change_against_the_setting_as_it_is_now(client):
    """A change is shown against the setting now, not the ``before`` it was proposed against: an
    edit made meanwhile is in front of the approver (before, the page showed every field as "will set")."""
    ChangeControl.objects.update_or_create(
        model_label="sales.PlaybookRule", defaults={"requires_second_person": True}
    )
    demo_playbook_ensure()
    rule = PlaybookRule.objects.order_by("priority").first()
    olivia = UserFactory(username="olivia", is_staff=True, is_superuser=True)
    action = change_propose(
        model_label="sales.PlaybookRule", object_id=rule.pk, before={"priority": rule.priority},
        after={"priority": 1}, risk_note="first", user=olivia, object_repr=str(rule),
    )  # fmt: skip
    PlaybookRule.objects.filter(pk=rule.pk).update(priority=7)  # someone else's edit, meanwhile
    client.force_login(UserFactory(username="sofia", is_staff=True, is_superuser=True))

    page = client.get(reverse("approval-detail", args=[action.pk]))

    assert page.status_code == 200
    assert page.context["record_kind"] == "Configuration"
    assert ("priority", 7) in page.context["record"]
    assert page.context["changes"] == [FieldChange("priority", 7, 1, CHANGE, "priority")]
    assert b"Configuration now" in page.content
