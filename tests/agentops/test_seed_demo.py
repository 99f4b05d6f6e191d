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
