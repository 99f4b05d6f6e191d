"""Support metrics: the figures on a hand-made data set, the page against its baseline, the KPIs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from operations.kpi_series import KPIS
from support.metrics import TicketFacts, by_day, by_intent, display, total
from support.models import SupportSettings, SurveyResponse
from tests.factories import TicketFactory, UserFactory

DAY = date(2026, 11, 20)
OPEN = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _facts(intent, *, resolved_by="", handle=None, escalated=False, followup=None, csat=None, day=DAY):
    resolved_at = OPEN + timedelta(seconds=handle) if handle is not None else None
    return TicketFacts(
        opened_on=day, intent=intent, escalated=escalated, resolved_at=resolved_at, resolved_by=resolved_by,
        handle_seconds=handle, followup_at=resolved_at + followup if followup else None, csat=csat,
    )  # fmt: skip


TICKETS = [
    _facts("card_arrival", resolved_by="bot", handle=600, csat=5),
    _facts("card_arrival", resolved_by="bot", handle=1200, followup=2 * H, csat=2),
    _facts("request_refund", resolved_by="human", handle=7200, escalated=True, followup=30 * H, csat=4),
    _facts("request_refund", escalated=True),
    _facts("", day=DAY + timedelta(days=1)),
]


def test_the_figures_on_a_hand_made_set():
    f = total(TICKETS, 24 * H)
    assert (f.tickets, f.resolved, f.contained, f.first_contact, f.escalated) == (5, 3, 2, 2, 2)
    assert f.value("containment") == pytest.approx(2 / 3) and f.value("fcr") == pytest.approx(2 / 3)
    assert f.value("escalation_rate") == pytest.approx(0.4) and f.value("csat") == pytest.approx(2 / 3)
    assert f.value("aht_bot") == 900 and f.value("aht_human") == 7200


def test_a_follow_up_outside_the_window_keeps_first_contact_resolution():
    assert total(TICKETS, 1 * H).value("fcr") == 1.0  # the 2-hour follow-up falls outside a 1-hour window
    assert total(TICKETS, 48 * H).value("fcr") == pytest.approx(1 / 3)


def test_an_escalated_ticket_the_bot_closed_is_not_contained():
    f = total([_facts("x", resolved_by="bot", handle=60, escalated=True)], 24 * H)
    assert f.value("containment") == 0.0


def test_the_figures_by_intent_and_by_day():
    intents = by_intent(TICKETS, 24 * H)
    assert list(intents) == ["card_arrival", "request_refund", "(unclassified)"]
    assert (
        intents["card_arrival"].value("containment") == 1.0
        and intents["request_refund"].value("escalation_rate") == 1.0
    )
    days = by_day(TICKETS, 24 * H)
    assert [d.tickets for d in days.values()] == [4, 1] and days[DAY].resolved == 3


def test_nothing_to_count_is_unknown_not_zero():
    f = total([], 24 * H)
    assert f.value("containment") is None and f.value("csat") is None and f.value("aht_bot") is None
    assert display(None, "%") == "—" and display(0.6667, "%") == "66.7%"
    assert display(5400, "s") == "1.5 h" and display(900, "s") == "15 min"


# --- on the database --------------------------------------------------------------------------


def _ticket(opened, *, resolved_by="", hours=None, escalated=False, followup=None, csat=None, intent=""):
    resolved_at = opened + timedelta(hours=hours) if hours is not None else None
    ticket = TicketFactory(
        source_created_at=opened, resolved_at=resolved_at, resolved_by=resolved_by, predicted_intent=intent,
        escalated_at=opened + H if escalated else None,
        followup_at=resolved_at + followup if followup is not None and resolved_at else None,
    )  # fmt: skip
    if csat is not None:
        SurveyResponse.objects.create(ticket=ticket, score=csat, responded_at=resolved_at or opened)
    return ticket


@pytest.fixture
def data_set():
    today = timezone.localdate()
    recent = timezone.make_aware(datetime.combine(today - timedelta(days=2), datetime.min.time())) + 9 * H
    old = recent - timedelta(days=200)
    SupportSettings.objects.create(
        baseline_start=(old - timedelta(days=5)).date(), baseline_end=(old + timedelta(days=5)).date()
    )
    # Baseline: no bot; two tickets, both resolved by people, one with a follow-up after an hour.
    _ticket(old, resolved_by="human", hours=10, escalated=True, csat=3, intent="card_arrival")
    _ticket(old, resolved_by="human", hours=20, escalated=True, followup=H, intent="card_arrival")
    # This period: the same shape as the hand-made set.
    _ticket(recent, resolved_by="bot", hours=0.5, csat=5, intent="card_arrival")
    _ticket(recent, resolved_by="bot", hours=1, followup=2 * H, csat=2, intent="card_arrival")
    _ticket(recent, resolved_by="human", hours=2, escalated=True, csat=4, intent="request_refund")
    _ticket(recent, escalated=True, intent="request_refund")
    return recent


@pytest.fixture
def lead(client):
    user = UserFactory(username="liam")
    user.user_permissions.add(Permission.objects.get(codename="view_ticket"))
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_page_shows_the_period_against_the_baseline(lead, data_set):
    response = lead.get("/support/metrics/")
    assert response.status_code == 200
    rows = {r.name: r for r in response.context["page"].rows}
    assert (rows["containment"].value, rows["containment"].baseline) == ("66.7%", "0.0%")
    assert rows["containment"].change == "+66.7 pts"
    assert (rows["fcr"].value, rows["fcr"].baseline) == ("66.7%", "50.0%")
    assert (rows["escalation_rate"].value, rows["escalation_rate"].baseline) == ("50.0%", "100.0%")
    assert (rows["csat"].value, rows["csat"].baseline) == ("66.7%", "0.0%")
    assert (rows["aht_bot"].value, rows["aht_human"].value, rows["aht_human"].baseline) == (
        "45 min",
        "2.0 h",
        "15.0 h",
    )
    assert rows["containment"].spark.points  # a trend line over the period
    intents = {intent: (tickets, cells) for intent, tickets, cells in response.context["page"].intents}
    assert intents["card_arrival"] == (2, ["100.0%", "50.0%", "50.0%", "0.0%", "45 min", "—"])
    assert b'data-metric="containment"' in response.content and b"<script" not in response.content


@pytest.mark.django_db
def test_the_page_says_when_there_is_no_baseline(lead):
    response = lead.get("/support/metrics/?days=7")
    assert response.context["days"] == 7
    assert b"No pre-automation baseline yet" in response.content
    assert response.context["page"].rows[0].baseline == "no baseline set"


@pytest.mark.django_db
def test_the_page_needs_permission_to_view_tickets(client):
    client.force_login(UserFactory(username="outsider"))
    assert client.get("/support/metrics/").status_code == 403


@pytest.mark.django_db
def test_the_page_renders_in_a_constant_number_of_queries(lead, data_set, django_assert_num_queries):
    # session, user, the user's role groups (pages are closed to API-only accounts), permissions
    # (user, groups), settings, tickets with their survey answers, the engaged kill switches (banner)
    with django_assert_num_queries(8):
        lead.get("/support/metrics/")
    for _ in range(20):
        _ticket(data_set, resolved_by="bot", hours=1, csat=5, intent="exchange_rate")
    with django_assert_num_queries(8):
        lead.get("/support/metrics/")


@pytest.mark.django_db
def test_the_support_kpis_are_registered_and_read_by_day_in_one_query(data_set, django_assert_num_queries):
    start = data_set - timedelta(days=10)
    with django_assert_num_queries(1):
        containment = KPIS["support_containment"].read(start)
    day = timezone.localtime(data_set).date()
    assert containment == {day: (2, 3)}
    assert KPIS["support_fcr"].read(start) == {day: (2, 3)}
    assert KPIS["support_escalation_rate"].read(start) == {day: (2, 4)}
    assert KPIS["support_csat"].read(start) == {day: (2, 3)}
    assert KPIS["support_aht_bot"].read(start) == {day: (5400.0, 2)}
    assert KPIS["support_aht_human"].unit == "s" and not KPIS["support_aht_human"].higher_is_better


@pytest.mark.django_db
def test_the_follow_up_window_comes_from_the_settings(data_set):
    SupportSettings.objects.update(followup_window_hours=1)
    day = timezone.localtime(data_set).date()
    assert KPIS["support_fcr"].read(data_set - timedelta(days=1)) == {day: (3, 3)}


@pytest.mark.django_db
def test_survey_answers_are_imported_one_per_ticket_with_bad_lines_named(tmp_path):
    from io import StringIO

    from django.core.management import call_command

    ticket = TicketFactory(source="zendesk", external_id="z-1")
    path = tmp_path / "csat.csv"
    path.write_text(
        "source,external_id,score,responded_at,comment\n"
        "zendesk,z-1,4,2026-11-20T10:00:00+00:00,quick\n"
        "zendesk,z-1,5,2026-11-20T11:00:00+00:00,even better\n"
        "zendesk,z-2,5,2026-11-20T11:00:00+00:00,\n"
        "zendesk,z-1,6,2026-11-20T11:00:00+00:00,\n"
        "zendesk,z-1,3,yesterday,\n"
    )
    out, err = StringIO(), StringIO()
    call_command("import_survey_responses", str(path), stdout=out, stderr=err)
    assert "recorded 2; rejected 3 (of 5 rows)" in out.getvalue()
    assert "line 4: external_id: no zendesk ticket 'z-2'" in err.getvalue()
    assert "line 5: score: must be a whole number from 1 to 5, got '6'" in err.getvalue()
    assert "line 6: responded_at" in err.getvalue()
    answer = SurveyResponse.objects.get(ticket=ticket)
    assert (answer.score, answer.comment) == (5, "even better")
