"""What Twilio tells us about our text messages, applied: delivery receipts and the texts people send back.

Every webhook is stored once as a ``WebhookEvent`` of the connection (``status:<MessageSid>:<status>``
for a receipt, ``inbound:<MessageSid>`` for a text received), in the transaction that applies it:
a redelivery (Twilio retries, the sandbox repeats some) is counted in ``deliveries`` and changes
nothing more.

- A **receipt** (``sent``, ``delivered``, ``undelivered``, ``failed``) is written on the action's
  execution (``delivery_status``; a late ``sent`` never replaces ``delivered``), and a final one in
  the decision log. A failure saying the number takes no texts (``messages.BOUNCE_CODES``), or that
  the person opted out at the carrier (21610), stops SMS to the lead: the ``sms.stopped`` event,
  applied by the privacy app like an email bounce (a withdrawal of the SMS channel in the consent
  registry: queued texts cancelled, later SMS steps skipped, the outbox refusing what is left).
- A **text received** is matched to the lead we last texted at that number
  (``ActionExecution.recipient_index``, a keyed HMAC of the number). STOP and the other carrier
  opt-out keywords withdraw the lead's SMS consent the same way (``sms.stopped``; other channels go
  on); START/UNSTOP is recorded only (raising consent needs a person, see docs/privacy.md); HELP is
  recorded only; anything else is the lead's reply: an ``email_reply`` event with ``channel: sms``
  (the one reply kind; ``sales.event_services``) and the lead's open enrolments end at once, as for
  an email reply.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from approvals.choices import ActionKind
from audit.choices import EventType
from audit.services import decision_log_append
from connectors.models import ActionExecution, Connection, InboundStatus, WebhookEvent
from connectors.sms import recipient_index
from connectors.twilio import messages
from core import events
from sales.cadence_services import lead_enrolments_exit
from sales.choices import LeadEventKind
from sales.event_services import NewLeadEvent, lead_event_record

logger = logging.getLogger(__name__)

ACTOR = "twilio:webhook"
SOURCE = "webhook:twilio"


@dataclass(frozen=True)
class SmsApplied:
    """What one webhook did: ``recorded``, ``duplicate`` or ``ignored`` (with the reason)."""

    status: str
    kind: str
    lead_id: int | None = None
    reason: str = ""


def _store(
    connection: Connection, event_id: str, topic: str, sid: str, params: Mapping[str, str], now: datetime
) -> WebhookEvent | None:
    """The event, stored now; None when it was stored before (its delivery is counted)."""
    fingerprint = hashlib.sha256(json.dumps(sorted(params.items())).encode()).hexdigest()
    try:
        with transaction.atomic():
            return WebhookEvent.objects.create(
                connection=connection,
                vendor=connection.vendor,
                event_id=event_id[:200],
                topic=topic,
                entity_kind="sms",
                entity_id=sid[:100],
                payload=dict(params),
                fingerprint=fingerprint,
                status=InboundStatus.PROCESSED,
                received_at=now,
                processed_at=now,
            )
    except IntegrityError:
        WebhookEvent.objects.filter(connection=connection, event_id=event_id[:200]).update(
            deliveries=F("deliveries") + 1
        )
        return None


def _ignored(stored: WebhookEvent, kind: str, reason: str) -> SmsApplied:
    stored.status, stored.error = InboundStatus.IGNORED, reason
    stored.save(update_fields=["status", "error"])
    return SmsApplied("ignored", kind, reason=reason)


def _stop(lead_id: int, note: str) -> None:
    events.publish("sms.stopped", lead_ids=[lead_id], source=SOURCE, note=note)


def sms_status_apply(
    *, connection: Connection, params: Mapping[str, str], action_id: int | None, now: datetime | None = None
) -> SmsApplied:
    """Apply one status callback (see the module); ``action_id`` is the one our StatusCallback URL named."""
    now = now or timezone.now()
    receipt = messages.receipt_of(dict(params))
    if receipt is None:
        return SmsApplied("ignored", "status", reason="no MessageSid or MessageStatus")
    with transaction.atomic():
        stored = _store(
            connection,
            f"status:{receipt.message_sid}:{receipt.status}",
            "message.status",
            receipt.message_sid,
            params,
            now,
        )
        if stored is None:
            return SmsApplied("duplicate", receipt.status)
        executions = ActionExecution.objects.select_for_update().select_related("action")
        execution = (
            executions.filter(action_id=action_id, action__kind=ActionKind.SEND_SMS).first()
            if action_id is not None
            else executions.filter(vendor_id=receipt.message_sid, action__kind=ActionKind.SEND_SMS).first()
        )
        if execution is None:
            return _ignored(stored, receipt.status, "not a text message we sent")
        current = execution.delivery_status.split(" ")[0]
        if messages.status_rank(receipt.status) >= messages.status_rank(current):
            execution.delivery_status = f"{receipt.status} {receipt.error_code}".strip()
        execution.vendor_id = execution.vendor_id or receipt.message_sid
        execution.recipient_index = execution.recipient_index or recipient_index(receipt.to)
        execution.save(update_fields=["delivery_status", "vendor_id", "recipient_index", "updated_at"])
        lead_id = execution.action.lead_id
        if receipt.final:
            decision_log_append(
                event_type=EventType.ACTION_EXECUTED,
                actor=ACTOR,
                subject_type="proposed_action",
                subject_id=execution.action_id,
                correlation_id=execution.action.correlation_id,
                action_taken={"kind": ActionKind.SEND_SMS, "message_sid": receipt.message_sid},
                outcome={"delivery": receipt.status, "error_code": receipt.error_code},
            )
        if lead_id is not None and receipt.bounce_reason:
            _stop(
                lead_id,
                f"our text could not be delivered (Twilio {receipt.error_code}: {receipt.bounce_reason})",
            )
        elif lead_id is not None and receipt.opted_out:
            _stop(
                lead_id, f"the carrier refused our text: the person opted out (Twilio {receipt.error_code})"
            )
    return SmsApplied("recorded", receipt.status, lead_id=lead_id)


def _lead_texted(number: str) -> int | None:
    """The lead we last texted at ``number``."""
    index = recipient_index(number)
    if not index:
        return None
    return (
        ActionExecution.objects.filter(recipient_index=index, action__kind=ActionKind.SEND_SMS)
        .filter(action__lead__isnull=False)
        .order_by("-pk")
        .values_list("action__lead_id", flat=True)
        .first()
    )


def sms_inbound_apply(
    *, connection: Connection, params: Mapping[str, str], now: datetime | None = None
) -> SmsApplied:
    """Apply one text a person sent to the connection's number (see the module)."""
    now = now or timezone.now()
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if not sid:
        return SmsApplied("ignored", "inbound", reason="no MessageSid")
    kind = messages.inbound_kind(params.get("Body", ""))
    with transaction.atomic():
        stored = _store(connection, f"inbound:{sid}", f"message.{kind}", sid, params, now)
        if stored is None:
            return SmsApplied("duplicate", kind)
        lead_id = _lead_texted(params.get("From", ""))
        if lead_id is None:
            return _ignored(stored, kind, "no lead was texted from us at this number")
        stored.entity_kind, stored.entity_id = "lead", str(lead_id)
        stored.save(update_fields=["entity_kind", "entity_id"])
        if kind == messages.OPT_OUT:
            _stop(
                lead_id,
                f"the contact texted {params.get('Body', '').strip()[:20]!r} (a carrier opt-out keyword)",
            )
        elif kind == messages.REPLY:
            lead_event_record(
                event=NewLeadEvent(
                    lead_id=lead_id,
                    kind=LeadEventKind.EMAIL_REPLY,
                    occurred_at=now,
                    external_id=f"sms:{sid}",
                    properties={"channel": "sms", "message_sid": sid},
                ),
                actor=ACTOR,
                source=SOURCE,
            )
            lead_enrolments_exit(lead_id=lead_id, event_kind=LeadEventKind.EMAIL_REPLY, at=now, now=now)
        elif kind == messages.OPT_IN:
            # Twilio answers START itself; a re-subscription raises no consent on its own (a person
            # records consent, docs/privacy.md), so it is only put on record here.
            decision_log_append(
                event_type=EventType.CONSENT_CHANGED,
                actor=ACTOR,
                subject_type="lead",
                subject_id=lead_id,
                action_taken={
                    "channel": "sms",
                    "keyword": "start",
                    "message_sid": sid,
                    "consent_raised": False,
                },
            )
    logger.info("twilio: %s from a lead's number for lead %s", kind, lead_id)
    return SmsApplied("recorded", kind, lead_id=lead_id)
