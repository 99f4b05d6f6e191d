"""Recording a lead's events (sales.event_services): once per lead and external id, with its
decision-log entry, and bad input refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audit.models import DecisionLogEntry
from sales.event_services import LeadEventError, NewLeadEvent, lead_event_record, lead_events_record_many
from sales.models import LeadEvent
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def _event(lead: int, **changes) -> NewLeadEvent:
    values = {"lead_id": lead, "kind": "email_reply", "occurred_at": AT, "external_id": "mail:abc"}
    values.update(changes)
    return NewLeadEvent(**values)


def test_it_records_an_event_once_with_its_log_entry():
    lead = LeadFactory()

    first = lead_event_record(event=_event(lead.pk), actor="mail:inbound", source="mail")
    second = lead_event_record(
        event=_event(lead.pk, kind="email_bounce"), actor="mail:inbound", source="mail"
    )

    assert first.created and not second.created
    assert second.event == first.event and second.event.kind == "email_reply"
    assert LeadEvent.objects.count() == 1
    [entry] = DecisionLogEntry.objects.filter(event_type="outcome.recorded")
    assert (entry.subject_type, entry.subject_id, entry.outcome["event"]) == (
        "lead",
        str(lead.pk),
        "email_reply",
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "postcard"}, "kind"),
        ({"external_id": "  "}, "external_id"),
        ({"external_id": "x" * 101}, "external_id"),
        ({"occurred_at": datetime(2026, 11, 25, 15, 0)}, "occurred_at"),
        ({"lead_id": 999_999}, "lead"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(changes, field):
    lead = LeadFactory()

    with pytest.raises(LeadEventError) as refused:
        lead_event_record(event=_event(lead.pk, **changes), actor="t", source="test")

    assert refused.value.field == field
    assert not LeadEvent.objects.exists() and not DecisionLogEntry.objects.exists()


def test_many_events_are_recorded_once_each_with_the_same_log_entries_in_constant_queries(
    django_assert_max_num_queries,
):
    leads = LeadFactory.create_batch(3)
    lead_event_record(event=_event(leads[0].pk, external_id="crm:1"), actor="t", source="sync:hubspot")
    events = [_event(lead.pk, external_id=f"crm:{n}") for n in (1, 2) for lead in leads]

    with django_assert_max_num_queries(8):  # per event it would take 5 each
        new = lead_events_record_many(events=events, actor="connector:crm", source="sync:hubspot")

    assert new == 5 and LeadEvent.objects.count() == 6
    entries = DecisionLogEntry.objects.filter(event_type="outcome.recorded", actor="connector:crm")
    assert sorted((e.subject_id, e.input_context["external_id"]) for e in entries) == sorted(
        (str(e.lead_id), e.external_id) for e in events[1:]
    )
    assert {(e.input_context["source"], e.outcome["event"]) for e in entries} == {
        ("sync:hubspot", "email_reply")
    }
    assert lead_events_record_many(events=events, actor="connector:crm", source="sync:hubspot") == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"kind": "postcard"}, "kind"), ({"occurred_at": datetime(2026, 11, 25, 15, 0)}, "occurred_at"),
     ({"lead_id": 999_999}, "lead")],
)  # fmt: skip
def test_a_bad_event_among_many_is_refused_naming_the_field_and_nothing_is_written(changes, field):
    lead = LeadFactory()

    with pytest.raises(LeadEventError) as refused:
        lead_events_record_many(
            events=[_event(lead.pk, external_id="good"), _event(lead.pk, **changes)], actor="t", source="test"
        )

    assert refused.value.field == field
    assert not LeadEvent.objects.exists() and not DecisionLogEntry.objects.exists()
