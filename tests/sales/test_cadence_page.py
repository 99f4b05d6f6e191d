"""The cadence metrics page and playbook experiments, end to end through the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from approvals.models import ProposedAction
from approvals.services import payload_sha256
from sales.cadence_services import cadences_advance
from sales.demo_cadence import DEMO_CADENCE, demo_cadence_ensure
from sales.demo_playbook import demo_playbook_ensure
from sales.models import Enrolment, ExperimentAssignment, LeadEvent, Playbook
from sales.selectors import cadence_metrics, experiment_results
from sales.services import playbooks_run
from tests.factories import LeadFactory, ModelVersionFactory, user_in_role
from tests.sales.test_playbook_services import score

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday afternoon in London


def send_all():
    for action in ProposedAction.objects.filter(kind="send_email").exclude(status="executed"):
        ProposedAction.objects.filter(pk=action.pk).update(
            status="executed",
            approved_payload_sha256=payload_sha256(action.payload),
            decided_at=NOW,
            executed_at=NOW,
        )


def run_cadence(n_leads, *, replies=0):
    cadence = demo_cadence_ensure()
    leads = [
        LeadFactory(email=f"p{i}@example.com", consent_state="granted", timezone="Europe/London")
        for i in range(n_leads)
    ]
    for lead in leads:
        Enrolment.objects.create(lead=lead, cadence=cadence, next_step_at=NOW, enrolled_at=NOW)
    cadences_advance(now=NOW)
    send_all()  # as the connectors would, before anyone replies
    for lead in leads[:replies]:
        LeadEvent.objects.create(
            lead=lead, kind="email_reply", occurred_at=NOW + timedelta(hours=1), external_id="r"
        )
    cadences_advance(now=NOW + timedelta(hours=2))
    return cadence


def test_metrics_count_each_step_and_credit_replies_to_it():
    run_cadence(4, replies=1)
    (metrics,) = cadence_metrics()
    assert (metrics.name, metrics.enrolled, metrics.touched, metrics.replied) == (DEMO_CADENCE, 4, 4, 1)
    assert metrics.exited == {"replied": 1}
    first = metrics.steps[0]
    assert (first.position, first.drafted, first.sent, first.replied, first.reply_rate) == (1, 4, 4, 1, 0.25)
    assert metrics.reply_rate == 0.25
    assert metrics.meeting_conversion == 0
    assert [s.position for s in metrics.steps] == list(range(1, 8))


def test_the_page_shows_the_rates_in_a_constant_number_of_queries(client):
    client.force_login(user_in_role("SDR managers", username="sofia"))  # a sales page (security.roles)
    run_cadence(2, replies=1)
    with CaptureQueriesContext(connection) as few:
        response = client.get(reverse("cadences"))
    assert response.status_code == 200
    page = response.content.decode()
    assert DEMO_CADENCE in page
    assert 'data-metric="reply-rate">50%' in page
    run_cadence_more = LeadFactory.create_batch(5, email="x@example.com", consent_state="granted")
    for lead in run_cadence_more:
        Enrolment.objects.create(
            lead=lead, cadence=Enrolment.objects.first().cadence, next_step_at=NOW, enrolled_at=NOW
        )
    cadences_advance(now=NOW)
    with CaptureQueriesContext(connection) as more:
        assert client.get(reverse("cadences")).status_code == 200
    assert len(few) == len(more)


def test_the_page_needs_a_sign_in(client):
    response = client.get(reverse("cadences"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


# --- Experiments -------------------------------------------------------------------------------


@pytest.fixture
def hot_leads():
    version = ModelVersionFactory(status="champion", name="demo-b2b")
    demo_playbook_ensure()
    leads = [LeadFactory(status="new") for _ in range(60)]
    for lead in leads:
        score(lead, 90, version=version)
    return leads


def test_a_control_share_holds_out_a_stable_share_with_no_proposals(hot_leads):
    playbook = Playbook.objects.get()
    playbook.control_share = 0.5
    playbook.save()
    summary = playbooks_run(actor="test")
    control = set(ExperimentAssignment.objects.filter(arm="control").values_list("lead_id", flat=True))
    treatment = set(ExperimentAssignment.objects.filter(arm="treatment").values_list("lead_id", flat=True))
    assert len(control) + len(treatment) == 60
    assert 15 <= len(control) <= 45
    assert summary.held_out == 2 * len(control)  # both of the hot rule's actions
    from audit.models import DecisionLogEntry

    proposed_for = set(ProposedAction.objects.values_list("lead_id", flat=True))
    assert proposed_for == treatment
    assert DecisionLogEntry.objects.filter(event_type="experiment.held_out").count() == len(control)
    # Re-running, or changing the share afterwards, never moves a lead between arms.
    playbook.control_share = 0.1
    playbook.save()
    again = playbooks_run(actor="test")
    assert again.created == 0
    assert (
        set(ExperimentAssignment.objects.filter(arm="control").values_list("lead_id", flat=True)) == control
    )


def test_without_a_control_share_nothing_is_held_out(hot_leads):
    summary = playbooks_run(actor="test")
    assert summary.held_out == 0
    assert not ExperimentAssignment.objects.exists()
    assert summary.created == 120


def test_experiment_results_give_the_effect_with_an_interval(hot_leads):
    Playbook.objects.update(control_share=0.5)
    playbooks_run(actor="test")
    treated = list(ExperimentAssignment.objects.filter(arm="treatment").order_by("lead_id"))
    control = list(ExperimentAssignment.objects.filter(arm="control").order_by("lead_id"))
    for a in treated[: len(treated) // 2]:
        LeadEvent.objects.create(
            lead_id=a.lead_id, kind="email_reply", occurred_at=a.assigned_at, external_id="r"
        )
    (result,) = experiment_results()
    reply = result.effects["reply"]
    assert reply.treatment_n == len(treated) and reply.control_n == len(control)
    assert reply.treatment_rate == pytest.approx((len(treated) // 2) / len(treated))
    assert reply.control_rate == 0
    assert reply.low > 0  # half replied versus none: clear of zero
    assert result.effects["conversion"].difference == 0
