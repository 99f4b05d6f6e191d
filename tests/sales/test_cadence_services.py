"""Cadences end to end on the database: enrolment, steps, consent, pacing, quiet hours and exits.

Each rule of sequencing has a test here that fails if the rule is taken out of the code path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.models import ProposedAction
from approvals.services import payload_sha256
from audit.models import DecisionLogEntry
from sales.cadence_services import (
    cadences_advance,
    enrolment_set_paused,
    lead_opt_out,
)
from sales.models import (
    Cadence,
    CadenceStep,
    Enrolment,
    LeadEvent,
    MessageTemplate,
    SdrQueue,
    SequencingSettings,
    Touch,
)
from sales.unsubscribe import unsubscribe_token_lead
from tests.factories import LeadFactory, ProposedActionFactory, UserFactory
from tests.outbox import outbox_run

pytestmark = pytest.mark.django_db

# Wednesday 15:00 UTC: working hours in London.
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
EMAIL_BODY = "Hi {{ first_name }}, teams like {{ company }} cut onboarding time in half.\n\nUnsubscribe: {{ unsubscribe_url }}"


@pytest.fixture
def cadence():
    intro = MessageTemplate.objects.create(
        name="Intro", channel="email", subject="Quick question, {{ first_name }}", body=EMAIL_BODY
    )
    call = MessageTemplate.objects.create(
        name="Call", channel="phone_task", body="Call {{ full_name }} about onboarding."
    )
    bump = MessageTemplate.objects.create(
        name="Bump", channel="email", subject="Re: quick question", body="Any thoughts? {{ unsubscribe_url }}"
    )
    cadence = Cadence.objects.create(name="Inbound hot")
    CadenceStep.objects.create(cadence=cadence, position=1, channel="email", wait_days=0, template=intro)
    CadenceStep.objects.create(cadence=cadence, position=2, channel="phone_task", wait_days=2, template=call)
    CadenceStep.objects.create(cadence=cadence, position=3, channel="email", wait_days=3, template=bump)
    return cadence


def lead(**kw):
    values = {"email": "ada@northwind.example", "consent_state": "granted", "timezone": "Europe/London"}
    values.update(kw)
    return LeadFactory(**values)


def enrol(the_lead, cadence, *, at=NOW):
    return Enrolment.objects.create(
        lead=the_lead, cadence=cadence, status="active", next_position=1, next_step_at=at, enrolled_at=at
    )


def approved_enrolment_action(the_lead, **payload):
    payload = {"cadence": "Inbound hot", **payload}
    return ProposedActionFactory(
        lead=the_lead,
        status="approved",
        decided_at=NOW,
        payload=payload,
        approved_payload_sha256=payload_sha256(payload),
    )


def messages_to(the_lead):
    return ProposedAction.objects.filter(lead=the_lead, kind__in=["send_email", "send_sms"])


# --- Enrolment ---------------------------------------------------------------------------------


def test_an_approved_enrol_action_enrols_the_lead_and_is_executed(cadence):
    action = approved_enrolment_action(lead())
    assert outbox_run(now=NOW) == {"executed": 1}
    enrolment = Enrolment.objects.get()
    assert (enrolment.cadence, enrolment.source_action, enrolment.next_position) == (cadence, action, 1)
    action.refresh_from_db()
    assert action.status == "executed"
    assert DecisionLogEntry.objects.filter(
        event_type="cadence.enrolled", subject_id=str(action.lead_id)
    ).exists()
    assert DecisionLogEntry.objects.filter(event_type="action.executed", subject_id=str(action.pk)).exists()
    assert outbox_run(now=NOW) == {}  # executed once
    assert Enrolment.objects.count() == 1


def test_an_unknown_cadence_fails_the_action_with_the_reason(cadence):
    action = approved_enrolment_action(lead(), cadence="No such cadence")
    assert outbox_run(now=NOW) == {"failed": 1}
    action.refresh_from_db()
    assert action.status == "failed"
    entry = DecisionLogEntry.objects.filter(
        subject_id=str(action.pk), event_type="action.transitioned"
    ).last()
    assert "no such cadence" in entry.action_taken["reason"]


def test_an_opted_out_lead_is_never_enrolled(cadence):
    action = approved_enrolment_action(lead(consent_state="opted_out"))
    assert outbox_run(now=NOW) == {"cancelled": 1}
    action.refresh_from_db()
    assert action.status == "cancelled"
    assert not Enrolment.objects.exists()


def test_an_sdr_gets_at_most_the_daily_number_of_new_enrolments_and_the_rest_wait(cadence):
    SequencingSettings.objects.update(max_new_enrolments_per_sdr_per_day=2)
    sdr = UserFactory(username="sam")
    for _ in range(3):
        approved_enrolment_action(lead(owner=sdr))
    assert outbox_run(now=NOW) == {"executed": 3}
    assert Enrolment.objects.exclude(wait_reason="").count() == 1
    starts = sorted(Enrolment.objects.values_list("next_step_at", flat=True))
    assert starts[:2] == [NOW, NOW]
    assert starts[2] == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def test_a_queue_spreads_enrolments_over_its_members(cadence):
    queue = SdrQueue.objects.create(name="Inbound SDR queue")
    one, two = UserFactory(username="one"), UserFactory(username="two")
    queue.members.set([one, two])
    for _ in range(4):
        approved_enrolment_action(lead(), queue="Inbound SDR queue")
    outbox_run(now=NOW)
    owners = sorted(Enrolment.objects.values_list("owner__username", flat=True))
    assert owners == ["one", "one", "two", "two"]


# --- Steps -------------------------------------------------------------------------------------


def test_a_due_email_step_becomes_a_proposed_email_with_merge_fields_filled(cadence):
    the_lead = lead(first_name="Ada", company_name="Northwind")
    enrolment = enrol(the_lead, cadence)
    summary = cadences_advance(now=NOW)
    assert summary.proposed == 1
    (email,) = messages_to(the_lead)
    assert email.payload["to"] == "ada@northwind.example"
    assert email.payload["subject"] == "Quick question, Ada"
    assert "teams like Northwind" in email.payload["body"]
    link = email.payload["body"].rsplit("Unsubscribe: ", 1)[1].strip()
    assert "/webhooks/mail/unsubscribe/" in link
    assert (
        unsubscribe_token_lead(token=link.rstrip("/").rsplit("/", 1)[1]) == the_lead.pk
    )  # signed for the lead
    assert email.status != "proposed"  # routed through the approval policy
    touch = Touch.objects.get()
    assert (touch.status, touch.action, touch.template_version) == ("proposed", email, 1)
    enrolment.refresh_from_db()
    assert (enrolment.next_position, enrolment.next_step_at) == (2, NOW + timedelta(days=2))


def test_a_task_step_becomes_a_crm_task_for_the_sdr(cadence):
    enrolment = enrol(lead(), cadence)
    cadences_advance(now=NOW)
    cadences_advance(now=NOW + timedelta(days=2))
    task = ProposedAction.objects.get(kind="create_task")
    assert task.payload["subject"].startswith("Call Ada")
    enrolment.refresh_from_db()
    assert enrolment.next_position == 3


def test_running_twice_never_takes_a_step_twice(cadence):
    enrol(lead(), cadence)
    cadences_advance(now=NOW)
    again = cadences_advance(now=NOW)
    assert again.proposed == 0
    assert Touch.objects.count() == 1
    assert ProposedAction.objects.count() == 1


def test_the_enrolment_completes_after_the_last_step_and_a_quiet_wait(cadence):
    enrolment = enrol(lead(), cadence)
    for day in (0, 2, 5):
        cadences_advance(now=NOW + timedelta(days=day))
    assert Touch.objects.count() == 3
    enrolment.refresh_from_db()
    assert enrolment.status == "active"  # still listening for a reply to the last step
    cadences_advance(now=NOW + timedelta(days=5 + 7))
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.exit_reason) == ("completed", "")
    assert enrolment.ended_at is not None


# --- Consent -----------------------------------------------------------------------------------


def test_an_opted_out_contact_never_gets_a_message(cadence):
    the_lead = lead(consent_state="opted_out")
    enrolment = enrol(the_lead, cadence)
    for day in range(0, 20):
        cadences_advance(now=NOW + timedelta(days=day))
    assert not messages_to(the_lead).exists()
    assert not ProposedAction.objects.filter(lead=the_lead).exists()
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "opted_out")


def test_an_email_without_granted_consent_is_skipped_but_the_sdr_task_runs(cadence):
    the_lead = lead(consent_state="unknown")
    enrol(the_lead, cadence)
    cadences_advance(now=NOW)
    cadences_advance(now=NOW + timedelta(days=2))
    assert not messages_to(the_lead).exists()
    statuses = dict(Touch.objects.values_list("position", "status"))
    assert statuses == {1: "skipped", 2: "proposed"}
    assert "consent" in Touch.objects.get(position=1).reason


def test_an_opt_out_withdraws_every_message_not_yet_sent(cadence):
    the_lead = lead()
    enrolment = enrol(the_lead, cadence)
    cadences_advance(now=NOW)
    (email,) = messages_to(the_lead)
    ProposedAction.objects.filter(pk=email.pk).update(
        status="approved", approved_payload_sha256=payload_sha256(email.payload)
    )  # approved, not yet executed
    result = lead_opt_out(lead_id=the_lead.pk, source="unsubscribe link", actor="webhook")
    email.refresh_from_db()
    enrolment.refresh_from_db()
    assert email.status == "cancelled"
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "opted_out")
    assert (result.enrolments_exited, result.messages_withdrawn) == (1, 1)
    assert Touch.objects.get().opted_out_at is not None
    assert DecisionLogEntry.objects.filter(event_type="consent.changed", subject_id=str(the_lead.pk)).exists()


# --- Pacing and quiet hours --------------------------------------------------------------------


def test_pacing_holds_a_touch_when_the_contact_had_enough_this_week(cadence):
    SequencingSettings.objects.update(max_touches_per_contact=2, pacing_window_days=7)
    the_lead = lead()
    other = Cadence.objects.create(name="Event follow-up")
    earlier = enrol(the_lead, other, at=NOW - timedelta(days=3))
    step = CadenceStep.objects.create(
        cadence=other, position=1, channel="email", template=cadence.steps.first().template
    )
    for position, days in ((1, 6), (2, 1)):
        Touch.objects.create(
            enrolment=earlier, lead=the_lead, step=step, position=position, channel="email",
            status="proposed", touched_at=NOW - timedelta(days=days),
        )  # fmt: skip
    Enrolment.objects.filter(pk=earlier.pk).update(next_step_at=NOW + timedelta(days=30))
    enrolment = enrol(the_lead, cadence)
    summary = cadences_advance(now=NOW)
    assert (summary.deferred, summary.proposed) == (1, 0)
    enrolment.refresh_from_db()
    assert enrolment.next_step_at == NOW + timedelta(days=1)  # when the touch 6 days ago leaves the window
    assert "pacing" in enrolment.wait_reason


def test_quiet_hours_in_the_contacts_time_zone_hold_the_step(cadence):
    enrolment = enrol(lead(timezone="Australia/Sydney"), cadence)  # 02:00 in Sydney
    assert cadences_advance(now=NOW).deferred == 1
    enrolment.refresh_from_db()
    assert enrolment.next_step_at == datetime(2026, 11, 25, 21, 0, tzinfo=UTC)  # 08:00 Sydney
    assert cadences_advance(now=datetime(2026, 11, 25, 21, 0, tzinfo=UTC)).proposed == 1


# --- Exits -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "reason", "outcome"),
    [
        ("email_reply", "replied", "replied_at"),
        ("meeting_booked", "meeting_booked", "meeting_at"),
        ("email_bounce", "bounced", "bounced_at"),
        ("spam_complaint", "complaint", "opted_out_at"),
        ("unsubscribed", "opted_out", "opted_out_at"),
    ],
)
def test_an_exit_signal_ends_the_cadence_and_is_credited_to_the_last_touch(cadence, kind, reason, outcome):
    the_lead = lead()
    enrolment = enrol(the_lead, cadence)
    cadences_advance(now=NOW)
    LeadEvent.objects.create(lead=the_lead, kind=kind, occurred_at=NOW + timedelta(hours=5), external_id="e1")
    summary = cadences_advance(now=NOW + timedelta(hours=6))  # before step 2 is due: exits at once
    assert summary.exited == {reason: 1}
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.exit_reason) == ("exited", reason)
    assert getattr(Touch.objects.get(), outcome) == NOW + timedelta(hours=5)
    cadences_advance(now=NOW + timedelta(days=10))
    assert Touch.objects.count() == 1  # no further step


def test_an_exit_withdraws_the_pending_message(cadence):
    the_lead = lead()
    enrol(the_lead, cadence)
    cadences_advance(now=NOW)
    (email,) = messages_to(the_lead)
    ProposedAction.objects.filter(pk=email.pk).update(status="pending_approval")
    LeadEvent.objects.create(
        lead=the_lead, kind="email_reply", occurred_at=NOW + timedelta(hours=1), external_id="r"
    )
    assert cadences_advance(now=NOW + timedelta(hours=2)).withdrawn == 1
    email.refresh_from_db()
    assert email.status == "cancelled"


@pytest.mark.parametrize("kind", ["unsubscribed", "spam_complaint"])
def test_an_unsubscribe_or_complaint_event_opts_the_contact_out_of_everything(cadence, kind):
    the_lead = lead()
    enrol(the_lead, cadence)
    other = ProposedActionFactory(
        lead=the_lead, kind="send_email", status="pending_approval",
        payload={"to": the_lead.email, "subject": "Hi", "body": "Hello"},
    )  # fmt: skip
    LeadEvent.objects.create(
        lead=the_lead, kind=kind, occurred_at=NOW - timedelta(minutes=5), external_id="u"
    )
    Enrolment.objects.update(enrolled_at=NOW - timedelta(hours=1))
    cadences_advance(now=NOW)
    the_lead.refresh_from_db()
    other.refresh_from_db()
    assert the_lead.consent_state == "opted_out"
    assert other.status == "cancelled"
    assert DecisionLogEntry.objects.filter(event_type="consent.changed", subject_id=str(the_lead.pk)).exists()


def test_a_signal_from_before_the_enrolment_does_not_end_it(cadence):
    the_lead = lead()
    LeadEvent.objects.create(
        lead=the_lead, kind="email_reply", occurred_at=NOW - timedelta(days=1), external_id="old"
    )
    enrol(the_lead, cadence)
    summary = cadences_advance(now=NOW)
    assert (summary.exited, summary.proposed) == ({}, 1)


# --- Templates ---------------------------------------------------------------------------------


def test_a_missing_merge_field_pauses_the_enrolment_with_a_clear_reason_and_resumes(cadence):
    the_lead = lead(first_name="")
    enrolment = enrol(the_lead, cadence)
    summary = cadences_advance(now=NOW)
    assert (summary.failed, summary.proposed) == (1, 0)
    enrolment.refresh_from_db()
    assert enrolment.status == "paused"
    assert "first_name" in enrolment.wait_reason and "no value" in enrolment.wait_reason
    assert not messages_to(the_lead).exists()
    the_lead.first_name = "Ada"
    the_lead.save()
    enrolment_set_paused(enrolment_id=enrolment.pk, paused=False, actor="sam", now=NOW)
    assert cadences_advance(now=NOW + timedelta(minutes=1)).proposed == 1
    assert messages_to(the_lead).get().payload["subject"] == "Quick question, Ada"


def test_compliance_flags_land_on_the_proposal(cadence):
    MessageTemplate.objects.filter(name="Intro").update(
        body="Hi {{ first_name }}, 20% off if you sign the contract this week."
    )
    the_lead = lead()
    enrol(the_lead, cadence)
    cadences_advance(now=NOW)
    email = messages_to(the_lead).get()
    assert email.compliance_flags == ["contract", "missing_unsubscribe", "pricing"]
    assert "Compliance" in email.rationale
    assert Touch.objects.get().compliance_flags == email.compliance_flags


def test_editing_a_template_bumps_its_version_and_new_touches_record_it(cadence):
    intro = MessageTemplate.objects.get(name="Intro")
    intro.body = EMAIL_BODY + "\nP.S. new line"
    intro.save()
    assert intro.version == 2
    intro.save()
    assert intro.version == 2  # unchanged copy, same version
    enrol(lead(), cadence)
    cadences_advance(now=NOW)
    assert Touch.objects.get().template_version == 2


# --- Cost --------------------------------------------------------------------------------------


def test_the_number_of_queries_does_not_grow_with_the_batch(cadence):
    def run(n, offset):
        for _ in range(n):
            enrol(lead(), cadence, at=NOW + offset)
        with CaptureQueriesContext(connection) as queries:
            summary = cadences_advance(now=NOW + offset)
        assert summary.proposed == n
        return len(queries)

    assert run(3, timedelta(0)) == run(25, timedelta(minutes=1))
