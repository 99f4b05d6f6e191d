"""connectors.signals, the pure reading of a CRM's engagement and deal records (no database, no HTTP):
what each record states, at which of its times, under which once-only id."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.outcomes import OutcomeRules
from connectors.signals import SignalError, engagement_read

CHANGED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SF_DEALS = OutcomeRules(
    converted_field="IsWon",
    converted_values=("true",),
    converted_time_field="CloseDate",
    lost_field="IsClosed",
    lost_values=("true",),
    lost_time_field="CloseDate",
    deal_value_field="Amount",
)


def read(vendor: str, kind: str, payload: dict, record_id: str = "R1", rules: OutcomeRules | None = None):
    return engagement_read(
        vendor=vendor, kind=kind, record_id=record_id, payload=payload, modified_at=CHANGED, deal_rules=rules
    )


def test_it_reads_a_salesforce_bounce_at_the_change_and_an_open_at_its_own_time():
    engagement = read(
        "salesforce",
        "email",
        {
            "MessageDate": "2026-11-30T10:00:00.000+0000",
            "Incoming": False,
            "IsBounced": True,
            "FirstOpenedDate": "2026-11-30T11:00:00.000+0000",
            "associatedWhoIds": ["00Q000000000001AAA"],
        },
        record_id="02s000000000001AAA",
    )

    assert engagement.people == ("00Q000000000001AAA",)
    assert [(s.kind, s.external_id, s.occurred_at) for s in engagement.signals] == [
        ("email_bounce", "salesforce:email:02s000000000001:bounce", CHANGED),
        ("email_open", "salesforce:email:02s000000000001:open", datetime(2026, 11, 30, 11, tzinfo=UTC)),
    ]


def test_a_salesforce_task_that_is_not_a_call_states_nothing():
    engagement = read("salesforce", "call", {"WhoId": "00Q1", "Subject": "Send deck", "TaskSubtype": "Task"})

    assert (engagement.people, engagement.signals) == (("00Q1",), ())


def test_a_cancelled_hubspot_meeting_is_no_booking():
    payload = {"hs_createdate": "2026-11-30T10:00:00.000Z", "hs_meeting_outcome": "CANCELED"}

    assert read("hubspot", "meeting", payload).signals == ()


def test_a_lost_opportunity_states_its_stage_and_the_loss_at_its_close_date():
    payload = {"StageName": "Closed Lost", "IsWon": False, "IsClosed": True, "CloseDate": "2026-11-28"}

    engagement = read("salesforce", "deal", payload, record_id="006000000000001AAA", rules=SF_DEALS)

    assert [(s.kind, s.external_id, s.occurred_at) for s in engagement.signals] == [
        ("deal_stage", "salesforce:deal:006000000000001:stage:Closed Lost", CHANGED),
        ("deal_lost", "salesforce:deal:006000000000001:lost", datetime(2026, 11, 28, tzinfo=UTC)),
    ]
    assert engagement.outcome is not None and engagement.outcome.outcome == "lost"


@pytest.mark.parametrize(
    ("vendor", "kind", "payload", "field"),
    [
        ("hubspot", "deal", {"amount": "10"}, "dealstage"),
        ("hubspot", "email", {"hs_timestamp": "2026-11-30T10:00:00Z"}, "hs_email_direction"),
        ("hubspot", "email", {"hs_email_direction": "EMAIL", "hs_timestamp": "soon"}, "hs_timestamp"),
        ("salesforce", "meeting", {"WhoId": "00Q1"}, "CreatedDate"),
        ("hubspot", "call", {}, "kind"),  # HubSpot calls are not read
    ],
)
def test_it_names_the_field_a_record_cannot_be_read_without(vendor, kind, payload, field):
    with pytest.raises(SignalError) as refused:
        read(vendor, kind, payload)

    assert refused.value.field == field


def test_a_reply_is_read_whatever_its_open_time_says():
    # An incoming email's open time is not ours to read, so a bad one does not refuse the reply.
    payload = {"Incoming": True, "MessageDate": "2026-11-30T10:00:00.000+0000", "FirstOpenedDate": "x"}

    assert [s.kind for s in read("salesforce", "email", payload).signals] == ["email_reply"]
