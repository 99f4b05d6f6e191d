"""Auto-pause: a metric going bad opens an incident and engages the kill switch; a person resolves it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import DecisionLogEntry
from connectors.models import ExecutionAttempt
from operations.autopause import DROP, LEVEL, Reading, RuleSpec, evaluate
from operations.gate import Work
from operations.models import AutoPauseRule, Incident, KillSwitch
from operations.selectors import execution_admission
from operations.services import SwitchError, autopause_run, incident_resolve
from tests.factories import ProposedActionFactory, UserFactory

# --- The pure rule -----------------------------------------------------------------------------


def test_a_level_rule_trips_at_the_threshold_with_enough_samples():
    rule = RuleSpec("outbound_error_rate", LEVEL, 0.2, min_samples=10)
    assert evaluate(rule, Reading(0.19, 100)) is None
    trip = evaluate(rule, Reading(0.2, 100))
    assert trip is not None and "20.0%" in trip.summary
    assert evaluate(rule, Reading(0.9, 9)) is None  # too few samples


def test_a_drop_rule_compares_with_the_baseline():
    rule = RuleSpec("reply_rate_drop", DROP, 0.05, min_samples=10)
    assert evaluate(rule, Reading(0.08, 50, baseline=0.12)) is None
    trip = evaluate(rule, Reading(0.06, 50, baseline=0.12))
    assert trip is not None and trip.baseline == 0.12
    assert evaluate(rule, Reading(0.0, 50, baseline=None)) is None


def test_an_unknown_comparison_is_refused():
    with pytest.raises(ValueError, match="comparison"):
        evaluate(RuleSpec("x", "sideways", 1), Reading(1, 100))


# --- On the database ---------------------------------------------------------------------------


def executions(n_ok, n_failed, *, kind="send_email", minutes_ago=5, failure_status=503):
    """Call attempts as the executor records them: ``n_ok`` that worked, ``n_failed`` that did not."""
    started = timezone.now() - timedelta(minutes=minutes_ago)
    action = ProposedActionFactory(kind=kind, status="executing", approved_payload_sha256="0" * 64)
    number = ExecutionAttempt.objects.filter(action=action).count()
    for outcome, status, n in (("ok", 200, n_ok), ("unknown", failure_status, n_failed)):
        for _ in range(n):
            number += 1
            ExecutionAttempt.objects.create(
                action=action, number=number, operation="create_task", started_at=started,
                finished_at=started, outcome=outcome, status_code=status,
            )  # fmt: skip


@pytest.fixture
def error_rule():
    return AutoPauseRule.objects.create(
        name="Email errors",
        metric="outbound_error_rate",
        action_kind="send_email",
        window_minutes=15,
        threshold=0.3,
        min_samples=10,
        switch_scope="action_kind",
        switch_target="send_email",
    )


@pytest.mark.django_db
def test_an_injected_error_spike_opens_an_incident_and_stops_the_work(error_rule):
    executions(20, 2)
    assert autopause_run().tripped == []
    executions(5, 12)  # the spike: 14 of 39 failed in the window
    summary = autopause_run()
    (incident,) = Incident.objects.all()
    assert summary.tripped == [incident.pk]
    assert incident.status == "open"
    assert incident.trigger["metric"] == "outbound_error_rate"
    assert incident.trigger["samples"] == 39
    assert incident.trigger["value"] == pytest.approx(14 / 39, abs=1e-4)
    assert incident.runbook_url
    assert [e.text.split(":")[0] for e in incident.timeline.all()] == ["Opened", "Engaged kill switch"]
    switch = KillSwitch.objects.get(scope="action_kind", target="send_email")
    assert switch.engaged and f"incident #{incident.pk}" in switch.reason
    assert not execution_admission(Work(kind="send_email")).allowed
    assert DecisionLogEntry.objects.filter(event_type="incident.opened", subject_id=str(incident.pk)).exists()
    # Still bad a minute later: no second incident while the first is open.
    assert autopause_run().tripped == []
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_other_kinds_and_old_failures_do_not_count(error_rule):
    executions(0, 30, kind="create_task")
    executions(0, 30, minutes_ago=60)
    executions(20, 0)
    assert autopause_run().tripped == []


@pytest.mark.django_db
def test_a_burst_of_429_answers_trips_the_rate_limited_rule():
    rule = AutoPauseRule.objects.create(
        name="429s", metric="rate_limited_share", window_minutes=10, threshold=0.5, min_samples=10,
        switch_scope="connector", switch_target="hubspot-prod",
    )  # fmt: skip
    executions(10, 4, failure_status=429)
    executions(0, 6, failure_status=503)
    assert autopause_run().tripped == []  # 4 of 20 answered 429
    executions(0, 20, failure_status=429)
    autopause_run()
    incident = Incident.objects.get(rule=rule)
    assert incident.trigger["value"] == pytest.approx(24 / 40)
    assert KillSwitch.objects.get(scope="connector", target="hubspot-prod").engaged


@pytest.mark.django_db
def test_resolving_is_an_explicit_human_step_that_can_release_the_switch(error_rule):
    executions(0, 20)
    autopause_run()
    incident = Incident.objects.get()
    with pytest.raises(SwitchError, match="resolution"):
        incident_resolve(incident_id=incident.pk, actor="olivia", resolution=" ", release_switch=True)
    incident_resolve(
        incident_id=incident.pk, actor="olivia", resolution="vendor outage over", release_switch=True
    )
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_by) == ("resolved", "olivia")
    assert "released kill switch" in incident.actions_taken[-1]
    assert execution_admission(Work(kind="send_email")).allowed
    assert DecisionLogEntry.objects.filter(event_type="incident.resolved").exists()
    with pytest.raises(SwitchError, match="already resolved"):
        incident_resolve(incident_id=incident.pk, actor="olivia", resolution="again", release_switch=False)


@pytest.mark.django_db
def test_a_reply_rate_drop_against_the_baseline_trips(error_rule):
    from sales.models import Cadence, CadenceStep, Enrolment, MessageTemplate, Touch
    from tests.factories import LeadFactory

    rule = AutoPauseRule.objects.create(
        name="Reply rate", metric="reply_rate_drop", window_minutes=7 * 24 * 60, baseline_days=28,
        threshold=0.1, min_samples=10, switch_scope="agent", switch_target="sdr-agent:cadences",
    )  # fmt: skip
    template = MessageTemplate.objects.create(name="t", channel="email", subject="s", body="b")
    cadence = Cadence.objects.create(name="c")
    step = CadenceStep.objects.create(cadence=cadence, position=1, channel="email", template=template)
    now = timezone.now()

    def touches(n, replied, days_ago):
        for i in range(n):
            lead = LeadFactory()
            enrolment = Enrolment.objects.create(lead=lead, cadence=cadence, enrolled_at=now)
            at = now - timedelta(days=days_ago)
            Touch.objects.create(
                enrolment=enrolment, lead=lead, step=step, position=1, channel="email", status="proposed",
                touched_at=at, replied_at=at if i < replied else None,
            )  # fmt: skip

    touches(40, 12, days_ago=14)  # baseline: 30% replied
    touches(20, 5, days_ago=2)  # this week: 25%, a 5-point drop: fine
    autopause_run()
    assert not Incident.objects.filter(rule=rule).exists()
    touches(20, 0, days_ago=1)  # now 5 of 40 = 12.5%: 17.5 points down
    autopause_run()
    incident = Incident.objects.get(rule=rule)
    assert incident.trigger["baseline"] == pytest.approx(0.3)
    assert KillSwitch.objects.get(scope="agent", target="sdr-agent:cadences").engaged


@pytest.mark.django_db
def test_the_admin_resolves_an_incident(client, error_rule):
    executions(0, 20)
    autopause_run()
    incident = Incident.objects.get()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    assert client.get(reverse("admin:operations_incident_change", args=[incident.pk])).status_code == 200
    client.post(
        reverse("admin:operations_incident_changelist"),
        {"action": "resolve_and_release", "_selected_action": [incident.pk]},
    )
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert not KillSwitch.objects.get().engaged


@pytest.mark.django_db
def test_a_csat_drop_against_the_baseline_trips():
    from support.models import SurveyResponse
    from tests.factories import TicketFactory

    rule = AutoPauseRule.objects.create(
        name="CSAT", metric="csat_drop", window_minutes=3 * 24 * 60, baseline_days=28, threshold=0.15,
        min_samples=10, switch_scope="agent", switch_target="support-bot",
    )  # fmt: skip
    now = timezone.now()

    def answers(scores, days_ago):
        for score in scores:
            SurveyResponse.objects.create(
                ticket=TicketFactory(), score=score, responded_at=now - timedelta(days=days_ago)
            )

    answers([5, 5, 4, 4, 4, 5, 3, 5, 4, 2], days_ago=10)  # baseline: 80% satisfied
    answers([5, 4, 4, 5, 3, 4, 5, 4, 2, 4], days_ago=1)  # 80%: fine
    autopause_run()
    assert not Incident.objects.filter(rule=rule).exists()
    answers([1, 2, 2, 1, 3, 2, 1, 2, 5, 2], days_ago=1)  # now 9 of 20 = 45%
    autopause_run()
    incident = Incident.objects.get(rule=rule)
    assert incident.trigger["baseline"] == pytest.approx(0.8)
    assert incident.trigger["value"] == pytest.approx(0.45)
    assert KillSwitch.objects.get(scope="agent", target="support-bot").engaged
