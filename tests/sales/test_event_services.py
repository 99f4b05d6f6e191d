"""Recording a lead's events (sales.event_services): once per lead and external id, with its
decision-log entry, and bad input refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audit.models import DecisionLogEntry
from sales.event_services import LeadEventError, NewLeadEvent, lead_event_record
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
