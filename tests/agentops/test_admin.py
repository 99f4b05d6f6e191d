import uuid

import pytest
from django.contrib import admin
from django.urls import reverse

from audit.services import decision_log_append
from support.models import HandoffRoute
from tests.factories import (
    AccountFactory,
    LeadFactory,
    ModelVersionFactory,
    ProposedActionFactory,
    TicketFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PROJECT_APPS = {
    "sales",
    "support",
    "scoring",
    "approvals",
    "audit",
    "notifications",
    "operations",
    "taskruns",
}


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def one_of_each():
    action = ProposedActionFactory(
        lead=LeadFactory(account=AccountFactory()), model_version=ModelVersionFactory()
    )
    TicketFactory()
    decision_log_append(
        event_type="action.proposed", actor="agent", subject_type="proposed_action", subject_id=action.pk
    )
    from approvals.models import Decision
    from sales.models import LeadEvent, SdrQueue

    Decision.objects.create(action=action, outcome="defer", decided_by=UserFactory())
    LeadEvent.objects.create(
        lead=action.lead, kind="web_visit", occurred_at=action.created_at, external_id="e1"
    )
    SdrQueue.objects.create(name="Inbound")
    HandoffRoute.objects.create(name="Refunds", intent="request_refund", group="360001", tags=["refund"])
    from approvals.models import ApprovalPolicy

    ApprovalPolicy.objects.create(name="Big deals", outcome="two_approvals", score_at_least=90)
    from django.contrib.auth.models import Group

    from approvals.models import EscalationStep

    EscalationStep.objects.create(
        group=Group.objects.create(name="Managers"),
        escalate_to=Group.objects.create(name="Directors"),
        sla_minutes=30,
    )
    from django.utils import timezone

    from scoring.models import DriftAlert, DriftReport, LeadScore

    now = timezone.now()
    LeadScore.objects.create(
        lead=action.lead, model_version=action.model_version, role="champion", probability=0.9, score=90,
        tier="hot", features_hash="h", scored_at=now,
    )  # fmt: skip
    report = DriftReport.objects.create(
        model_version=action.model_version, window_start=now, window_end=now, recent_size=0, level="ok"
    )
    DriftAlert.objects.create(
        model_version=action.model_version, report=report, feature="age", psi=0.3, statistic=0.1, p_value=0.01
    )
    from audit.services import audit_seal_pending
    from notifications.models import Notification
    from sales.demo_playbook import demo_playbook_ensure

    demo_playbook_ensure()
    from sales.demo_cadence import demo_cadence_ensure
    from sales.models import Enrolment, ExperimentAssignment, Playbook, Touch

    cadence = demo_cadence_ensure()
    enrolment = Enrolment.objects.create(lead=action.lead, cadence=cadence, enrolled_at=now, next_step_at=now)
    Touch.objects.create(
        enrolment=enrolment, lead=action.lead, step=cadence.steps.first(), position=1, channel="email",
        status="skipped", reason="no consent", touched_at=now,
    )  # fmt: skip
    ExperimentAssignment.objects.create(
        playbook=Playbook.objects.first(), lead=action.lead, arm="control", rule_name="r", assigned_at=now
    )
    from operations.models import AutoPauseRule, Incident, Quota
    from operations.services import kill_switch_set

    switch = kill_switch_set(scope="global", engaged=False, actor="root", reason="drill")
    Quota.objects.create(name="Emails", scope="action_kind", target="send_email", window="hour", limit=100)
    rule = AutoPauseRule.objects.create(
        name="Errors", metric="outbound_error_rate", threshold=0.3, switch_scope="global", switch_target=""
    )
    Incident.objects.create(title="Errors", rule=rule, switch=switch, opened_at=now)
    from taskruns.models import TaskRun, TaskSettings

    TaskRun.objects.create(func="sales.tasks.run_cadences", key="k" * 64, status="failed", last_error="boom")
    TaskSettings.objects.get_or_create(pk=1)
    from support.models import BotRun, IntentCorrection, SupportSettings, SurveyResponse, Ticket

    ticket = Ticket.objects.first()
    BotRun.objects.create(ticket=ticket, outcome="handed_off", intent="card_arrival", confidence=0.4)
    IntentCorrection.objects.create(
        ticket=ticket, predicted="card_arrival", corrected="card_delivery_estimate"
    )
    SurveyResponse.objects.create(ticket=ticket, score=4, responded_at=now)
    SupportSettings.objects.get_or_create(pk=1)
    audit_seal_pending()
    Notification.objects.create(
        channel="email",
        kind="near_sla",
        action=action,
        dedupe_key="near:1",
        subject="Due soon",
        body="…",
        batch=uuid.uuid4(),
    )
    from django.contrib.auth.models import Group as AuthGroup

    from notifications.models import ApprovalLink, SlackCard, SlackChannelRoute, SlackUserLink

    approver = UserFactory()
    ApprovalLink.objects.create(
        nonce="n" * 32,
        user=approver,
        action=action,
        decision="approve",
        payload_sha256="0" * 64,
        expires_at=now,
    )
    SlackChannelRoute.objects.create(group=AuthGroup.objects.create(name="Slack approvers"), channel_id="C1")
    SlackUserLink.objects.create(slack_user_id="U1", user=approver, verified_at=now)
    SlackCard.objects.create(action=action, destination="C1", channel="C1", ts="1.2")


def _project_models():
    return [m for m in admin.site._registry if m._meta.app_label in PROJECT_APPS]


def test_every_project_model_has_an_admin():
    registered = {m._meta.label for m in _project_models()}
    assert {"sales.Lead", "sales.Account", "support.Ticket", "approvals.ProposedAction", "approvals.Decision",
            "scoring.ModelVersion", "audit.DecisionLogEntry", "sales.SdrQueue", "sales.LeadEvent"} <= registered  # fmt: skip


@pytest.mark.parametrize("page", ["changelist", "change"])
def test_every_admin_page_loads(admin_client, one_of_each, page):
    for model in _project_models():
        opts = model._meta
        obj = model._default_manager.first()
        assert page == "changelist" or obj is not None, f"{opts.label}: one_of_each makes no row"
        args = [] if page == "changelist" else [obj.pk]
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_{page}", args=args)
        response = admin_client.get(url)
        assert response.status_code == 200, f"{url} -> {response.status_code}"


def test_configuration_models_keep_history(admin_client, one_of_each):
    from sales.models import SdrQueue

    queue = SdrQueue.objects.get(name="Inbound")
    queue.description = "Hot inbound"
    queue.save()
    url = reverse("admin:sales_sdrqueue_history", args=[queue.pk])
    assert admin_client.get(url).status_code == 200
    assert queue.history.count() == 2


def test_the_decision_log_cannot_be_changed_from_the_admin(admin_client, one_of_each):
    from audit.models import DecisionLogEntry

    entry = DecisionLogEntry.objects.first()
    assert admin_client.get(reverse("admin:audit_decisionlogentry_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:audit_decisionlogentry_delete", args=[entry.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert DecisionLogEntry.objects.filter(pk=entry.pk).exists()
