"""What comes back to AgentOps's own mail, applied: replies, bounces, complaints and unsubscribes
become the lead's events (``sales.event_services.lead_event_record``) with their follow-ups.

- a **reply** is an ``email_reply`` event, and the lead's open enrolments end at once with their
  steps not yet sent withdrawn (``sales.cadence_services.lead_enrolments_exit``; the next cadence
  tick would end them too, but a step approved earlier could go out in the minutes between);
- a **bounce** is an ``email_bounce`` event, the enrolments end likewise and, after commit, the
  lead's email channel is suppressed (the ``mail.bounced`` event, applied by the privacy app);
- a **complaint** and an **unsubscribe** (the page behind the link or the mailto of
  ``List-Unsubscribe``) are ``spam_complaint`` / ``unsubscribed`` events and an opt-out at once
  (``sales.cadence_services.lead_opt_out``: the withdrawal of every channel in the consent registry,
  every open enrolment ended, every unsent message cancelled, in this transaction with its log).

Each message is applied once: its event is unique per lead and message (``MailRead.external_id``), so a
redelivery changes nothing; neither does a second click on the same unsubscribe link.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from approvals.choices import ActionKind
from approvals.models import ProposedAction
from connectors.mail.reading import BOUNCE, COMPLAINT, IGNORED, REPLY_KIND, UNSUBSCRIBE_KIND, MailRead
from core import events
from sales.cadence_services import lead_enrolments_exit, lead_opt_out
from sales.choices import ConsentState, LeadEventKind
from sales.event_services import LeadEventRecorded, NewLeadEvent, lead_event_record
from sales.models import Lead

logger = logging.getLogger(__name__)

MAIL_ACTOR = "mail:inbound"
UNSUBSCRIBE_ACTOR = "mail:unsubscribe-page"
#: Consent sources (``consent.choices.ConsentSource``) of the opt-outs this module records.
SOURCE_UNSUBSCRIBE_PAGE = "form"
SOURCE_UNSUBSCRIBE_MAIL = "reply-unsubscribe"
SOURCE_COMPLAINT = "webhook:email"

EVENT_KINDS = {
    REPLY_KIND: LeadEventKind.EMAIL_REPLY,
    BOUNCE: LeadEventKind.EMAIL_BOUNCE,
    COMPLAINT: LeadEventKind.SPAM_COMPLAINT,
    UNSUBSCRIBE_KIND: LeadEventKind.UNSUBSCRIBED,
}


@dataclass(frozen=True)
class MailApplied:
    """What an incoming message did: ``recorded`` (a new event), ``duplicate`` (already applied) or
    ``ignored`` (with the reason: not ours, not about a lead, an automatic answer)."""

    status: str
    kind: str
    lead_id: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "kind": self.kind, "lead": self.lead_id, "reason": self.reason}


def _action_lead(read: MailRead) -> tuple[int | None, int | None]:
    """``(action id, lead id)`` of the message a reply or report is about."""
    actions = ProposedAction.objects.filter(kind=ActionKind.SEND_EMAIL)
    if read.action_id is not None:
        actions = actions.filter(pk=read.action_id)
    elif read.marker:
        actions = actions.filter(idempotency_key=read.marker)
    else:
        return None, None
    found = actions.values_list("pk", "lead_id").first()
    return (found[0], found[1]) if found else (None, None)


def inbound_mail_apply(*, read: MailRead, now: datetime | None = None) -> MailApplied:
    """Apply one incoming message as read by ``connectors.mail.reading.mail_read`` (see the module)."""
    now = now or timezone.now()
    if read.kind == IGNORED:
        return MailApplied("ignored", read.kind, reason=read.reason)
    action_id, lead_id = (None, read.lead_id) if read.kind == UNSUBSCRIBE_KIND else _action_lead(read)
    if lead_id is None:
        reason = "the message it answers is not a message of ours to a lead"
        return MailApplied("ignored", read.kind, reason=reason)
    properties: dict[str, object] = {"channel": "email", **read.details}
    if action_id is not None:
        properties["action_id"] = action_id
    with transaction.atomic():
        if not Lead.objects.filter(pk=lead_id).exists():
            return MailApplied("ignored", read.kind, reason=f"lead {lead_id} no longer exists")
        recorded = lead_event_record(
            event=NewLeadEvent(
                lead_id=lead_id,
                kind=EVENT_KINDS[read.kind],
                occurred_at=now,
                external_id=read.external_id,
                properties=properties,
            ),
            actor=MAIL_ACTOR,
            source="mail",
        )
        if recorded.created:
            _follow_up(read.kind, lead_id, now)
    status = "recorded" if recorded.created else "duplicate"
    logger.info("inbound mail: %s %s for lead %s", status, read.kind, lead_id)
    return MailApplied(status, read.kind, lead_id=lead_id)


def _follow_up(kind: str, lead_id: int, now: datetime) -> None:
    if kind in (REPLY_KIND, BOUNCE):
        # At once, not at the next cadence tick: a step approved earlier could go out meanwhile.
        lead_enrolments_exit(lead_id=lead_id, event_kind=EVENT_KINDS[kind], at=now, now=now)
    if kind == BOUNCE:
        events.publish("mail.bounced", lead_ids=[lead_id])
    elif kind == COMPLAINT:
        lead_opt_out(
            lead_id=lead_id,
            source=SOURCE_COMPLAINT,
            actor=MAIL_ACTOR,
            note="spam complaint (a feedback report from the recipient's mailbox provider)",
            now=now,
        )
    elif kind == UNSUBSCRIBE_KIND:
        _opt_out_unless_already(lead_id, SOURCE_UNSUBSCRIBE_MAIL, MAIL_ACTOR, "unsubscribe by email", now)


def _opt_out_unless_already(lead_id: int, source: str, actor: str, note: str, now: datetime) -> None:
    state = (
        Lead.objects.select_for_update().filter(pk=lead_id).values_list("consent_state", flat=True).first()
    )
    if state != ConsentState.OPTED_OUT:
        lead_opt_out(lead_id=lead_id, source=source, actor=actor, note=note, now=now)


def lead_unsubscribe(*, lead_id: int, token: str, now: datetime | None = None) -> LeadEventRecorded:
    """The unsubscribe page's POST (a click on its button, or a mailbox's RFC 8058 one-click POST):
    an ``unsubscribed`` event for the lead (once per link) and an opt-out, unless the lead has opted
    out already, in one transaction with its decision-log entries."""
    now = now or timezone.now()
    with transaction.atomic():
        recorded = lead_event_record(
            event=NewLeadEvent(
                lead_id=lead_id,
                kind=LeadEventKind.UNSUBSCRIBED,
                occurred_at=now,
                external_id="unsubscribe:" + hashlib.sha256(token.encode()).hexdigest()[:40],
                properties={"channel": "email", "via": "unsubscribe page"},
            ),
            actor=UNSUBSCRIBE_ACTOR,
            source="mail",
        )
        _opt_out_unless_already(
            lead_id, SOURCE_UNSUBSCRIBE_PAGE, UNSUBSCRIBE_ACTOR, "unsubscribe link (List-Unsubscribe)", now
        )
    return recorded
