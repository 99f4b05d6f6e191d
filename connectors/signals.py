"""What a CRM's engagement and deal records say a lead did: pure mapping, no ORM.

A HubSpot email, meeting or deal, or a Salesforce ``EmailMessage``, Event, call Task or Opportunity,
read by the incremental sync or named by a webhook, becomes ``Engagement``: the ids of the people
it is about (HubSpot contacts; Salesforce leads and contacts) and the lead events it states, each
with an external id that is the same however often and by whichever path the record is read (so a
redelivery or the sync reading it again writes nothing twice) and the CRM's own time:

=========================  =================================================  ==================
record                     event (``sales.choices.LeadEventKind``)             time
=========================  =================================================  ==================
HubSpot email              ``INCOMING_EMAIL``: ``email_reply``; sent:          ``hs_timestamp``
                           ``email_sent``; ``BOUNCED``: ``email_bounce``;      (open, click,
                           ``hs_email_open_count``/``click_count`` > 0:        bounce: the
                           ``email_open``/``email_click`` (once each)          modification)
HubSpot meeting            ``meeting_booked`` unless ``CANCELED``              ``hs_createdate``
HubSpot deal               ``deal_stage`` per stage; won/lost by the mapping   modification; close
Salesforce EmailMessage    ``Incoming``: ``email_reply``; ``Status`` 3 (sent):  ``MessageDate``
                           ``email_sent``; ``IsBounced``: ``email_bounce``;    (bounce: the
                           ``FirstOpenedDate``: ``email_open``                 modification)
Salesforce Event           ``meeting_booked``                                  ``CreatedDate``
Salesforce Task (a call)   ``call_logged`` (``TaskSubtype`` or ``Type`` Call)  ``CompletedDateTime``
Salesforce Opportunity     ``deal_stage`` per stage; won/lost by the mapping   modification; close
=========================  =================================================  ==================

A deal's won/lost reading comes from the connection's outcome mapping (``OutcomeRules``, admin
data): ``connectors.engagement`` applies it to the lead's outcome with the close date. A record
missing what its event needs raises ``SignalError`` naming the field; nothing of it is applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.inbound_vendors import _datetime
from connectors.outcomes import CONVERTED, LOST, OutcomeReading, OutcomeRules, outcome_reading

#: Our kinds of engagement records (``Record.kind`` / ``WebhookEvent.entity_kind``).
EMAIL, MEETING, CALL, DEAL = "email", "meeting", "call", "deal"
SIGNAL_KINDS = (EMAIL, MEETING, CALL, DEAL)

#: Where the connectors put the people a record is associated with (see their ``_record``).
HUBSPOT_CONTACTS = "associatedContactIds"
SALESFORCE_WHO_IDS = "associatedWhoIds"

# The LeadEventKind values (sales.choices; kept as text so this module imports no app).
EMAIL_SENT, EMAIL_REPLY, EMAIL_BOUNCE = "email_sent", "email_reply", "email_bounce"
EMAIL_OPEN, EMAIL_CLICK = "email_open", "email_click"
MEETING_BOOKED, CALL_LOGGED = "meeting_booked", "call_logged"
DEAL_STAGE, DEAL_WON, DEAL_LOST = "deal_stage", "deal_won", "deal_lost"


class SignalError(ValueError):
    """A record that cannot be read as its kind's signals; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Signal:
    """One lead event a record states (``kind`` a ``LeadEventKind`` value)."""

    kind: str
    external_id: str
    occurred_at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Engagement:
    """What one record says: whom it is about (the vendor's person ids: HubSpot contact ids,
    Salesforce lead or contact ids), the events, and for a deal its id and outcome reading."""

    people: tuple[str, ...]
    signals: tuple[Signal, ...]
    deal_id: str = ""
    outcome: OutcomeReading | None = None


def _when(payload: Mapping[str, Any], name: str, *, required: bool = True) -> datetime | None:
    value = payload.get(name)
    if value in (None, ""):
        if required:
            raise SignalError(name, "missing: the time the CRM recorded is needed")
        return None
    moment = _datetime(value)
    if moment is None:
        raise SignalError(name, f"{str(value)[:40]!r} is not a time")
    return moment


def _count(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if value in (None, ""):
        return 0
    try:
        return int(float(str(value)))
    except ValueError:
        raise SignalError(name, f"{str(value)[:40]!r} is not a number") from None


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _ids(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    values = value if isinstance(value, list | tuple) else [value]
    return tuple(dict.fromkeys(str(v) for v in values if v not in (None, "")))


def engagement_read(
    *,
    vendor: str,
    kind: str,
    record_id: str,
    payload: Mapping[str, Any],
    modified_at: datetime | None,
    deal_rules: OutcomeRules | None = None,
) -> Engagement:
    """The people and events of one ``kind`` record of ``vendor`` (see the module docstring).
    Raises ``SignalError`` naming the field for a record its events cannot be read from."""
    if not record_id:
        raise SignalError("id", "the record has no id")
    reader = _READERS.get((vendor, kind))
    if reader is None:
        raise SignalError("kind", f"{vendor} has no {kind} records")
    return reader(record_id, payload, modified_at, deal_rules)


def _modified(modified_at: datetime | None, name: str) -> datetime:
    if modified_at is None:
        raise SignalError(name, "missing: the record's modification time is needed")
    return modified_at


# HubSpot ------------------------------------------------------------------------------------------
def _hubspot_email(
    record_id: str, payload: Mapping[str, Any], modified_at: datetime | None, rules: OutcomeRules | None
) -> Engagement:
    direction = str(payload.get("hs_email_direction") or "")
    if not direction:
        raise SignalError("hs_email_direction", "missing: cannot tell a reply from a sent email")
    at = _when(payload, "hs_timestamp")
    assert at is not None
    key = f"hubspot:email:{record_id}"
    details = {
        "channel": "email",
        "crm_record": record_id,
        "subject": str(payload.get("hs_email_subject") or ""),
    }
    signals: list[Signal] = []
    if direction == "INCOMING_EMAIL":
        signals.append(Signal(EMAIL_REPLY, f"{key}:reply", at, details))
    else:
        status = str(payload.get("hs_email_status") or "")
        if status == "BOUNCED":
            signals.append(
                Signal(EMAIL_BOUNCE, f"{key}:bounce", _modified(modified_at, "hs_lastmodifieddate"), details)
            )
        elif status == "SENT":
            signals.append(Signal(EMAIL_SENT, f"{key}:sent", at, details))
        changed = modified_at or at
        if _count(payload, "hs_email_open_count") > 0:
            signals.append(Signal(EMAIL_OPEN, f"{key}:open", changed, details))
        if _count(payload, "hs_email_click_count") > 0:
            signals.append(Signal(EMAIL_CLICK, f"{key}:click", changed, details))
    return Engagement(_ids(payload.get(HUBSPOT_CONTACTS)), tuple(signals))


def _hubspot_meeting(
    record_id: str, payload: Mapping[str, Any], modified_at: datetime | None, rules: OutcomeRules | None
) -> Engagement:
    booked = _when(payload, "hs_createdate")
    assert booked is not None
    outcome = str(payload.get("hs_meeting_outcome") or "SCHEDULED")
    signals: tuple[Signal, ...] = ()
    if outcome != "CANCELED":
        start = _when(payload, "hs_meeting_start_time", required=False) or _when(
            payload, "hs_timestamp", required=False
        )
        details = {
            "channel": "meeting",
            "crm_record": record_id,
            "starts_at": start.isoformat() if start else "",
            "outcome": outcome,
        }
        signals = (Signal(MEETING_BOOKED, f"hubspot:meeting:{record_id}:booked", booked, details),)
    return Engagement(_ids(payload.get(HUBSPOT_CONTACTS)), signals)


def _hubspot_deal(
    record_id: str, payload: Mapping[str, Any], modified_at: datetime | None, rules: OutcomeRules | None
) -> Engagement:
    return _deal(
        "hubspot", record_id, payload, modified_at, rules, stage_field="dealstage", people=HUBSPOT_CONTACTS
    )


# Salesforce ---------------------------------------------------------------------------------------
def _salesforce_email(
    record_id: str, payload: Mapping[str, Any], modified_at: datetime | None, rules: OutcomeRules | None
) -> Engagement:
    at = _when(payload, "MessageDate")
    assert at is not None
    key = f"salesforce:email:{record_id[:15]}"
    details = {"channel": "email", "crm_record": record_id, "subject": str(payload.get("Subject") or "")}
    signals: list[Signal] = []
    if _flag(payload.get("Incoming")):
        signals.append(Signal(EMAIL_REPLY, f"{key}:reply", at, details))
    else:
        if _flag(payload.get("IsBounced")):
            bounced = _modified(modified_at, "SystemModstamp")
            signals.append(Signal(EMAIL_BOUNCE, f"{key}:bounce", bounced, details))
        elif str(payload.get("Status") or "") == "3":  # 3 = Sent
            signals.append(Signal(EMAIL_SENT, f"{key}:sent", at, details))
        opened = _when(payload, "FirstOpenedDate", required=False)
        if opened is not None:
            signals.append(Signal(EMAIL_OPEN, f"{key}:open", opened, details))
    return Engagement(_ids(payload.get(SALESFORCE_WHO_IDS)), tuple(signals))


def _salesforce_meeting(
    record_id: str, payload: Mapping[str, Any], modified_at: datetime | None, rules: OutcomeRules | None
) -> Engagement:
    booked = _when(payload, "CreatedDate")
    assert booked is not None
    start = _when(payload, "StartDateTime", required=False)
    details = {"channel": "meeting", "crm_record": record_id, "starts_at": start.isoformat() if start else ""}
    signal = Signal(MEETING_BOOKED, f"salesforce:event:{record_id[:15]}:booked", booked, details)
    return Engagement(_ids(payload.get("WhoId")), (signal,))


def _salesforce_call(
    record_id: str, payload: Mapping[str, Any], modified_at: datetime | None, rules: OutcomeRules | None
) -> Engagement:
    people = _ids(payload.get("WhoId"))
    if "Call" not in (payload.get("TaskSubtype"), payload.get("Type")):
        return Engagement(people, ())  # a to-do or a logged email, not a call
    at = _when(payload, "CompletedDateTime", required=False) or _when(payload, "CreatedDate")
    assert at is not None
    details = {
        "channel": "phone",
        "crm_record": record_id,
        "disposition": str(payload.get("CallDisposition") or ""),
        "duration_seconds": _count(payload, "CallDurationInSeconds"),
    }
    return Engagement(people, (Signal(CALL_LOGGED, f"salesforce:task:{record_id[:15]}:call", at, details),))


def _salesforce_deal(
    record_id: str, payload: Mapping[str, Any], modified_at: datetime | None, rules: OutcomeRules | None
) -> Engagement:
    return _deal(
        "salesforce",
        record_id,
        payload,
        modified_at,
        rules,
        stage_field="StageName",
        people=SALESFORCE_WHO_IDS,
    )


def _deal(
    vendor: str,
    record_id: str,
    payload: Mapping[str, Any],
    modified_at: datetime | None,
    rules: OutcomeRules | None,
    *,
    stage_field: str,
    people: str,
) -> Engagement:
    stage = str(payload.get(stage_field) or "")
    if not stage:
        raise SignalError(stage_field, "missing: a deal without a stage")
    changed = _modified(modified_at, "SystemModstamp" if vendor == "salesforce" else "hs_lastmodifieddate")
    deal_id = record_id[:15] if vendor == "salesforce" else record_id
    key = f"{vendor}:deal:{deal_id}"
    details = {"crm_record": record_id, "stage": stage}
    reading = outcome_reading(rules, payload, modified_at=changed) if rules is not None else OutcomeReading()
    if reading.deal_value:
        details["amount"] = reading.deal_value
    signals = [Signal(DEAL_STAGE, f"{key}:stage:{stage}"[:100], changed, details)]
    if reading.outcome in (CONVERTED, LOST) and reading.at is not None:
        won = reading.outcome == CONVERTED
        signals.append(
            Signal(DEAL_WON if won else DEAL_LOST, f"{key}:{'won' if won else 'lost'}", reading.at, details)
        )
    return Engagement(_ids(payload.get(people)), tuple(signals), deal_id=record_id, outcome=reading)


_READERS = {
    ("hubspot", EMAIL): _hubspot_email,
    ("hubspot", MEETING): _hubspot_meeting,
    ("hubspot", DEAL): _hubspot_deal,
    ("salesforce", EMAIL): _salesforce_email,
    ("salesforce", MEETING): _salesforce_meeting,
    ("salesforce", CALL): _salesforce_call,
    ("salesforce", DEAL): _salesforce_deal,
}


def vendor_kinds(vendor: str) -> tuple[str, ...]:
    """The engagement kinds ``vendor``'s records are read as."""
    return tuple(kind for v, kind in _READERS if v == vendor)


def people_of(engagements: Sequence[Engagement]) -> set[str]:
    return {person for e in engagements for person in e.people}
