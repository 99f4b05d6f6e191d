"""Retention: the default policies and the daily schedule, and ``purge_expired`` deleting or
anonymising exactly what is past each kind's period (ages from the rows' own timestamps), counting
without writing on a dry run, and finding nothing left on a second run."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from audit.models import DecisionLogEntry
from connectors.models import ExecutionAttempt, WebhookEvent
from consent.models import ConsentRecord
from privacy.models import RetentionPolicy
from privacy.services import consent_withdraw
from sales.models import Lead, LeadEvent
from support.models import BotRun, SurveyResponse, Ticket
from tests.connectors.inbound_support import make_connection
from tests.factories import LeadFactory, ProposedActionFactory, TicketFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD = NOW - timedelta(days=4000)  # past every default period
RECENT = NOW - timedelta(days=1)


def test_the_defaults_and_the_daily_schedule_are_registered_by_migrations():
    kinds = dict(RetentionPolicy.objects.values_list("kind", "action"))
    assert kinds == {
        "inactive_leads": "anonymise",
        "lead_events": "delete",
        "tickets": "anonymise",
        "webhook_events": "delete",
        "execution_attempts": "delete",
        "bot_runs": "delete",
        "survey_responses": "anonymise",
        "sessions": "delete",
    }
    schedule = Schedule.objects.get(name="privacy: purge expired data")
    assert (schedule.func, schedule.schedule_type) == ("privacy.tasks.purge_expired_task", "D")


def test_a_policy_keeps_its_history_and_refuses_an_action_its_kind_cannot_take():
    policy = RetentionPolicy.objects.get(kind="inactive_leads")
    for days in (365, 180):
        policy.days = days
        policy.save()
    assert [h.days for h in policy.history.order_by("history_date")] == [365, 180]

    policy.action = "delete"
    with pytest.raises(ValidationError) as refused:
        policy.full_clean()
    assert "action" in refused.value.message_dict


def _age(model, pk, **fields):
    model.objects.filter(pk=pk).update(**fields)


@pytest.fixture
def world():
    """One old and one recent row of every kind (the old ones past every default period)."""
    w = {}
    w["old_lead"] = LeadFactory(email="old@example.com", phone="+4400")
    w["active_lead"] = LeadFactory(email="active@example.com")  # old, but with a recent event
    w["new_lead"] = LeadFactory(email="new@example.com")
    for key in ("old_lead", "active_lead"):
        _age(Lead, w[key].pk, updated_at=OLD)
    w["old_event"] = LeadEvent.objects.create(
        lead=w["new_lead"], kind="web_visit", occurred_at=OLD, external_id="e1"
    )
    w["new_event"] = LeadEvent.objects.create(
        lead=w["active_lead"], kind="web_visit", occurred_at=RECENT, external_id="e2"
    )
    w["old_ticket"] = TicketFactory(requester_email="t@example.com", requester_name="Tess")
    w["new_ticket"] = TicketFactory(requester_email="u@example.com", requester_name="Uma")
    _age(Ticket, w["old_ticket"].pk, updated_at=OLD)
    w["old_survey"] = SurveyResponse.objects.create(
        ticket=w["old_ticket"], score=2, comment="Slow!", responded_at=OLD
    )
    w["new_survey"] = SurveyResponse.objects.create(
        ticket=w["new_ticket"], score=5, comment="Great", responded_at=RECENT
    )
    w["old_run"] = BotRun.objects.create(ticket=w["old_ticket"], outcome="answered")
    w["new_run"] = BotRun.objects.create(ticket=w["new_ticket"], outcome="answered")
    _age(BotRun, w["old_run"].pk, created_at=OLD)
    connection = make_connection("hubspot")
    for key, at, status in (
        ("old_hook", OLD, "processed"),
        ("new_hook", RECENT, "processed"),
        ("unapplied_hook", OLD, "received"),
    ):
        w[key] = WebhookEvent.objects.create(
            connection=connection,
            vendor="hubspot",
            event_id=key,
            received_at=at,
            status=status,
            fingerprint=key,
        )
    action = ProposedActionFactory(lead=w["new_lead"])
    w["old_attempt"] = ExecutionAttempt.objects.create(
        action=action, number=1, operation="x", started_at=OLD, outcome="ok"
    )
    w["new_attempt"] = ExecutionAttempt.objects.create(
        action=action, number=2, operation="x", started_at=RECENT, outcome="ok"
    )
    w["old_session"] = Session.objects.create(session_key="a" * 32, session_data="x", expire_date=RECENT)
    w["live_session"] = Session.objects.create(
        session_key="b" * 32, session_data="x", expire_date=NOW + timedelta(days=1)
    )
    # Consent records are proof and stay, however old.
    consent_withdraw(lead_id=w["old_lead"].pk, channels=["sms"], source="api", actor="x", now=OLD)
    return w


EXPECTED = {
    "inactive_leads": 1,
    "lead_events": 1,
    "tickets": 1,
    "webhook_events": 1,
    "execution_attempts": 1,
    "bot_runs": 1,
    "survey_responses": 1,
    "sessions": 1,
}


def _snapshot():
    return (
        list(Lead.objects.order_by("pk").values_list("email", "first_name", "last_name", "updated_at")),
        LeadEvent.objects.count(),
        WebhookEvent.objects.count(),
        ExecutionAttempt.objects.count(),
        BotRun.objects.count(),
        Session.objects.count(),
        list(SurveyResponse.objects.order_by("pk").values_list("comment", flat=True)),
        list(Ticket.objects.order_by("pk").values_list("requester_email", "subject")),
        DecisionLogEntry.objects.count(),
    )


def test_a_dry_run_counts_per_kind_and_writes_nothing(world):
    before = _snapshot()
    out = StringIO()

    call_command("purge_expired", "--dry-run", stdout=out)

    assert _snapshot() == before
    assert "Leads without activity: would purge 1" in out.getvalue()
    assert "Raw webhook events: would purge 1" in out.getvalue()


def test_it_purges_exactly_what_is_past_retention_and_a_second_run_finds_nothing(world):
    out = StringIO()
    call_command("purge_expired", "--batch-size", "1", stdout=out)

    assert "Leads without activity: purged 1" in out.getvalue()
    old_lead = Lead.objects.get(pk=world["old_lead"].pk)
    assert (old_lead.email, old_lead.phone, old_lead.first_name, old_lead.last_name) == ("", "", "", "")
    assert Lead.objects.get(pk=world["active_lead"].pk).email == "active@example.com"
    assert Lead.objects.get(pk=world["new_lead"].pk).email == "new@example.com"
    assert set(LeadEvent.objects.values_list("pk", flat=True)) == {world["new_event"].pk}
    old_ticket = Ticket.objects.get(pk=world["old_ticket"].pk)
    assert (old_ticket.requester_email, old_ticket.requester_name, old_ticket.body) == ("", "", "")
    assert Ticket.objects.get(pk=world["new_ticket"].pk).requester_email == "u@example.com"
    assert dict(SurveyResponse.objects.values_list("score", "comment")) == {2: "", 5: "Great"}  # scores kept
    assert set(BotRun.objects.values_list("pk", flat=True)) == {world["new_run"].pk}
    assert set(WebhookEvent.objects.values_list("event_id", flat=True)) == {"new_hook", "unapplied_hook"}
    assert set(ExecutionAttempt.objects.values_list("pk", flat=True)) == {world["new_attempt"].pk}
    assert list(Session.objects.values_list("session_key", flat=True)) == ["b" * 32]
    assert ConsentRecord.objects.filter(lead=world["old_lead"]).count() == 1
    entries = DecisionLogEntry.objects.filter(event_type="retention.purged")
    assert sum(e.action_taken["rows"] for e in entries) == sum(EXPECTED.values())

    from privacy.retention import retention_purge

    assert retention_purge() == dict.fromkeys(EXPECTED, 0)


def test_a_switched_off_policy_purges_nothing_and_a_longer_period_spares_younger_rows(world):
    RetentionPolicy.objects.filter(kind="lead_events").update(is_active=False)
    RetentionPolicy.objects.filter(kind="webhook_events").update(days=5000)  # older than OLD

    from privacy.retention import retention_purge

    counts = retention_purge()

    assert "lead_events" not in counts and counts["webhook_events"] == 0
    assert LeadEvent.objects.count() == 2 and WebhookEvent.objects.count() == 3


def test_history_rows_are_scrubbed_or_forgotten_with_their_records():
    """django-simple-history copies every field into its table: the helpers that erasure and purge
    use for any model with history blank those copies too, or delete them with their record."""
    from privacy.anonymise import history_forget, history_model, history_scrub

    policy = RetentionPolicy.objects.get(kind="tickets")
    for note in ("asked by ada@example.com", "asked by ada@example.com again"):
        policy.notes = note
        policy.save()
    assert history_model(Lead) is None or history_model(Lead).__name__ == "HistoricalLead"

    assert history_scrub(RetentionPolicy, [policy.pk], {"notes": ""}) == 2
    assert set(policy.history.values_list("notes", flat=True)) == {""}
    assert history_forget(RetentionPolicy, [policy.pk]) == 2
    assert not policy.history.exists()
