"""The pure sequencing rules: exits, consent, pacing, quiet hours, enrolment limits."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from sales.cadence import (
    DEFER,
    EXIT,
    RUN,
    SKIP,
    Pacing,
    QuietHours,
    StepFacts,
    decide_step,
    enrolment_day,
    next_allowed,
    pacing_next_allowed,
)

# Wednesday 2026-11-25, 15:00 UTC: inside working hours in London and Berlin, night in Sydney.
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
QUIET = QuietHours(start=time(20, 0), end=time(8, 0), weekends=False)
PACING = Pacing(max_touches=3, window=timedelta(days=7))


def facts(**overrides):
    values = {"now": NOW, "channel": "email", "consent": "granted", "timezone": "Europe/London"}
    values.update(overrides)
    return StepFacts(**values)


def decide(**overrides):
    return decide_step(facts(**overrides), quiet=QUIET, pacing=PACING)


def test_it_runs_a_due_step_for_a_consenting_contact_in_working_hours():
    assert decide().verdict == RUN


@pytest.mark.parametrize("signal", ["replied", "meeting_booked", "opted_out", "bounced", "complaint"])
def test_it_exits_on_every_exit_signal(signal):
    decision = decide(signals=frozenset({signal}))
    assert (decision.verdict, decision.reason) == (EXIT, signal)


def test_the_strongest_signal_names_the_exit():
    assert decide(signals=frozenset({"replied", "opted_out"})).reason == "opted_out"
    assert decide(signals=frozenset({"replied", "bounced"})).reason == "bounced"


@pytest.mark.parametrize("channel", ["email", "sms", "phone_task", "linkedin_task"])
def test_an_opted_out_contact_is_never_touched_on_any_channel(channel):
    decision = decide(channel=channel, consent="opted_out")
    assert (decision.verdict, decision.reason) == (EXIT, "opted_out")


@pytest.mark.parametrize("consent", ["unknown", ""])
@pytest.mark.parametrize("channel", ["email", "sms"])
def test_a_message_without_granted_consent_is_skipped(consent, channel):
    decision = decide(channel=channel, consent=consent)
    assert decision.verdict == SKIP
    assert channel in decision.reason


def test_a_task_for_the_sdr_needs_no_message_consent():
    assert decide(channel="phone_task", consent="unknown").verdict == RUN


def test_pacing_defers_a_fourth_touch_until_the_oldest_leaves_the_window():
    touches = (NOW - timedelta(days=6), NOW - timedelta(days=2), NOW - timedelta(hours=1))
    decision = decide(recent_touches=touches)
    assert decision.verdict == DEFER
    assert decision.at == NOW + timedelta(days=1)
    assert "pacing" in decision.reason


def test_pacing_ignores_touches_older_than_the_window():
    touches = (NOW - timedelta(days=8), NOW - timedelta(days=2), NOW - timedelta(hours=1))
    assert decide(recent_touches=touches).verdict == RUN


def test_pacing_next_allowed_with_more_touches_than_the_limit():
    touches = [NOW - timedelta(days=d) for d in (1, 2, 3, 4)]
    # Two of the four must leave the window: the one 3 days old leaves in 4 days.
    assert pacing_next_allowed(touches, NOW, PACING) == NOW + timedelta(days=4)
    assert pacing_next_allowed(touches[:2], NOW, PACING) == NOW


def test_quiet_hours_in_the_contacts_time_zone_defer_to_the_local_morning():
    # 15:00 UTC is 02:00 in Sydney (UTC+11 in November): waits until 08:00 Sydney = 21:00 UTC.
    decision = decide(timezone="Australia/Sydney")
    assert decision.verdict == DEFER
    assert decision.at == datetime(2026, 11, 25, 21, 0, tzinfo=UTC)
    assert "Australia/Sydney" in decision.reason


def test_quiet_hours_respect_the_evening_start():
    # 19:30 in New York is 00:30 UTC next day; allowed; 20:30 is not.
    assert next_allowed(datetime(2026, 11, 26, 0, 30, tzinfo=UTC), "America/New_York", QUIET) == datetime(
        2026, 11, 26, 0, 30, tzinfo=UTC
    )
    assert next_allowed(datetime(2026, 11, 26, 1, 30, tzinfo=UTC), "America/New_York", QUIET) == datetime(
        2026, 11, 26, 13, 0, tzinfo=UTC
    )


def test_weekends_move_to_monday_morning_local():
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert next_allowed(saturday, "Europe/Berlin", QUIET) == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    weekends_ok = QuietHours(start=time(20, 0), end=time(8, 0), weekends=True)
    assert next_allowed(saturday, "Europe/Berlin", weekends_ok) == saturday


def test_a_quiet_span_within_one_day_and_no_quiet_hours():
    lunch = QuietHours(start=time(12, 0), end=time(13, 0), weekends=True)
    assert next_allowed(datetime(2026, 11, 25, 12, 30, tzinfo=UTC), "UTC", lunch) == datetime(
        2026, 11, 25, 13, 0, tzinfo=UTC
    )
    never = QuietHours(start=time(0, 0), end=time(0, 0), weekends=True)
    assert next_allowed(NOW, "Asia/Tokyo", never) == NOW


def test_an_unknown_time_zone_falls_back_to_utc():
    assert next_allowed(NOW, "Mars/Olympus", QUIET) == NOW


def test_pacing_then_quiet_hours_combine():
    touches = (NOW - timedelta(days=7) + timedelta(hours=7),) * 3  # leave the window at 22:00 UTC
    decision = decide(recent_touches=touches)
    assert decision.at == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # London is quiet at 22:00


def test_enrolment_day_holds_the_excess_for_later_days():
    today = date(2026, 11, 25)
    assert enrolment_day({}, today, 2) == today
    assert enrolment_day({today: 2}, today, 2) == date(2026, 11, 26)
    assert enrolment_day({today: 2, date(2026, 11, 26): 2}, today, 2) == date(2026, 11, 27)
    with pytest.raises(ValueError, match="no room"):
        enrolment_day({today + timedelta(days=i): 1 for i in range(3)}, today, 1, horizon=3)
