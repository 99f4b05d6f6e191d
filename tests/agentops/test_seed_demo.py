from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from approvals.models import ApprovalPolicy, EscalationStep, ProposedAction
from approvals.schemas import validate_payload
from audit.models import DecisionLogEntry
from sales.models import Account, Lead, LeadEvent
from scoring.models import LeadScore, ModelVersion
from support.models import Ticket

pytestmark = pytest.mark.django_db
User = get_user_model()


def _counts():
    models = (
        Account, Lead, LeadEvent, Ticket, ProposedAction, DecisionLogEntry, ModelVersion, LeadScore,
        ApprovalPolicy, EscalationStep,
    )  # fmt: skip
    return [m.objects.count() for m in models]


def _sales_demo_tickets():
    """The sales demo data set's tickets (the support demo adds its own queries and history)."""
    return Ticket.objects.exclude(external_id__startswith="demo-b77-").exclude(
        external_id__startswith="demo-hist-"
    )


def test_it_seeds_a_usable_demo_and_duplicates_nothing_when_run_again(settings):
    settings.DEBUG = True  # the test runner forces DEBUG off; seed_demo is a DEBUG-only command
    # Without the intent model (training it takes 20–50 s; support/tests cover the bot on a small one).
    call_command("seed_demo", "--leads", "1200", "--tickets", "60", "--no-intent-model", stdout=StringIO())
    first = _counts()
    assert first[:3] == [150, 1200, first[2]] and first[2] > 1200 and _sales_demo_tickets().count() == 60
    assert Ticket.objects.filter(external_id__startswith="demo-b77-", status="new").count() == 40
    # A demo model was trained, promoted and has scored every demo lead.
    assert ModelVersion.objects.filter(status="champion", name="demo-b2b").exists()
    assert LeadScore.objects.filter(role="champion").values("lead").distinct().count() == 1200
    assert ProposedAction.objects.filter(status="pending_approval").exists()
    # Proposals went through the demo approval policies: routed to a team, with reasons and an SLA.
    routed = ProposedAction.objects.filter(domain="support", status="pending_approval").first()
    assert routed.approver_group.name == "Support leads" and routed.sla_due_at is not None
    assert any("Support handoffs go to support leads" in r for r in routed.policy_reasons)
    assert ApprovalPolicy.objects.count() == 6 and EscalationStep.objects.count() == 2
    assert Lead.objects.filter(account__isnull=False).count() == 1200
    for username in ("sdr.manager", "support.lead", "ops.admin", "auditor", "integrator"):
        assert authenticate(username=username, password="agentops-demo") is not None
    # The demo users are in the migrated role groups (security.roles), with their permissions.
    assert User.objects.get(username="auditor").groups.get().name == "Auditors"
    assert User.objects.get(username="sdr.manager").has_perm("security.view_personal_data")
    assert User.objects.get(username="integrator").has_perm("approvals.add_proposedaction")
    # The demo proposals fit their kinds' schemas, so approvers can edit them.
    for kind, payload in ProposedAction.objects.values_list("kind", "payload"):
        validate_payload(kind, payload)

    call_command("seed_demo", "--leads", "1200", "--tickets", "60", "--no-intent-model", stdout=StringIO())
    assert _counts() == first


def test_it_refuses_to_run_in_production_mode(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is false"):
        call_command("seed_demo", stdout=StringIO())
    assert Lead.objects.count() == 0


def test_it_feeds_the_demo_engagement_through_the_crm_inbound_path(settings):
    """Issue 18: every demo lead event, outcome and account link was written by the inbound path a
    real CRM's records take (the demo CRM connection's actor, ``sync:hubspot``), none by the seed."""
    from connectors.demo_crm import DEMO_CONNECTION
    from connectors.models import WebhookEvent
    from scoring.models import FeatureSet
    from scoring.selectors import lead_rows, training_leads

    settings.DEBUG = True
    call_command("seed_demo", "--leads", "300", "--tickets", "30", "--no-model", stdout=StringIO())
    actor = f"connector:{DEMO_CONNECTION}"

    events = list(LeadEvent.objects.values_list("lead_id", "external_id", "kind", "occurred_at"))
    logged = {
        (int(entry.subject_id), entry.input_context["external_id"]): entry
        for entry in DecisionLogEntry.objects.filter(event_type="outcome.recorded", subject_type="lead")
    }
    assert {kind for *_, kind, _ in events} >= {
        "email_sent", "email_open", "email_click", "email_reply", "meeting_booked", "email_bounce",
        "unsubscribed", "deal_stage", "deal_won", "deal_lost",
    }  # fmt: skip
    for lead_id, external_id, kind, _ in events:
        entry = logged[(lead_id, external_id)]  # each event has the inbound path's log entry
        assert (entry.actor, entry.input_context["source"]) == (actor, "sync:hubspot")
        assert entry.outcome["event"] == kind and external_id.startswith("hubspot:")
    assert not WebhookEvent.objects.exclude(status="processed").exists()

    # Outcomes: set by the deals' close dates, nothing typed in by the seed.
    closes = {lead_id: (kind, at) for lead_id, _, kind, at in events if kind in ("deal_won", "deal_lost")}
    decided = Lead.objects.exclude(outcome="unknown").values_list("pk", "outcome", "outcome_at")
    assert decided.exists()
    for pk, outcome, outcome_at in decided:
        kind = "deal_won" if outcome == "converted" else "deal_lost"
        assert closes[pk] == (kind, outcome_at)
    # The demo model's labels are those outcomes.
    feature_set = FeatureSet.objects.get(name="demo-b2b")
    rows = lead_rows(training_leads(feature_set), [], as_of=None, at_outcome=True)
    assert set(rows.ids) == {pk for pk, *_ in decided}

    # Account links: every lead by the CRM's association, tickets by their requester's email.
    links = DecisionLogEntry.objects.filter(event_type="accounts.linked", actor=actor)
    linked_leads = set(links.filter(subject_type="lead").values_list("subject_id", flat=True))
    assert linked_leads == {
        str(pk) for pk in Lead.objects.filter(account__isnull=False).values_list("pk", flat=True)
    }
    assert len(linked_leads) == 300 and Account.objects.filter(source="hubspot").count() == 150
    tickets = _sales_demo_tickets()
    linked_tickets = set(links.filter(subject_type="ticket").values_list("subject_id", flat=True))
    assert linked_tickets == {
        str(pk) for pk in tickets.filter(account__isnull=False).values_list("pk", flat=True)
    }
    assert tickets.filter(account__isnull=True).count() == 0

    call_command("seed_demo", "--leads", "300", "--tickets", "30", "--no-model", stdout=StringIO())
    assert LeadEvent.objects.count() == len(events)
