"""The support lead's writes from their workspace (the ticket pages): correcting a ticket's intent,
which stores a labelled example for the next intent training run, and replying to the customer,
which becomes a proposal routed by the approval policy like the bot's own replies.

Approving or editing the bot's proposed reply is not here: it is an approval decision
(``approvals.services.action_approve``), taken from the ticket page as from the approval page.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import User
from django.db import transaction

from approvals.choices import ActionKind, Domain, RiskLevel
from approvals.models import ProposedAction
from approvals.risk import risk_with_floor
from approvals.schemas import PayloadError, validate_payload
from approvals.services import DuplicateProposal, action_propose, action_route
from audit.choices import EventType
from audit.services import decision_log_append
from core.errors import CONFLICT, AppError
from support.models import BotRun, IntentCorrection, Ticket
from support.selectors import intent_classes, ticket_reply_pending


class WorkspaceError(AppError):
    """A correction or reply that cannot be taken; ``field`` names the form field at fault."""

    statuses = {"reply_pending": CONFLICT}


def _actor(user: User) -> str:
    return f"user:{user.get_username()}"


def intent_correction_record(*, ticket_id: int, user: User, intent: str) -> IntentCorrection:
    """Record that ``ticket``'s intent is ``intent`` (one of the intent model's classes), as ``user``
    says: a labelled example for the next intent training run, and the ticket's known intent
    (``Ticket.intent_label``). The row, the ticket's label and the decision-log entry (the model's
    prediction against the person's answer) are written in one transaction, with the ticket locked.
    Choosing the predicted intent confirms it, which is a labelled example too."""
    intent = (intent or "").strip()
    if intent not in intent_classes():
        raise WorkspaceError(
            "unknown_intent", f"intent: {intent!r} is not an intent the model knows", field="intent"
        )
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        run = BotRun.objects.filter(ticket=ticket).only("summary").first()
        label = str((run.summary if run is not None else {}).get("model_version") or "")
        correction = IntentCorrection.objects.create(
            ticket=ticket,
            predicted=ticket.predicted_intent,
            confidence=ticket.intent_confidence,
            model_version=label,
            corrected=intent,
            corrected_by=user,
        )
        ticket.intent_label = intent
        ticket.save(update_fields=["intent_label", "updated_at"])
        decision_log_append(
            event_type=EventType.OUTCOME_RECORDED,
            actor=_actor(user),
            subject_type="intent_correction",
            subject_id=correction.pk,
            input_context={"ticket": ticket.pk},
            model_version=label,
            prediction={"intent": ticket.predicted_intent, "confidence": ticket.intent_confidence},
            outcome={"intent": intent, "agrees": intent == ticket.predicted_intent},
        )
    return correction


def ticket_reply_propose(*, ticket_id: int, user: User, body: str) -> ProposedAction:
    """Propose ``user``'s own reply to the customer (``post_public_reply``), routed by the approval
    policy as the bot's replies are: it goes out at once only if a policy auto-approves it, else it
    waits for someone other than its writer (four eyes: nobody approves what they proposed).

    Its risk is low, high when the bot found the ticket's intent sensitive, and never below the
    floor of its words (``approvals.risk``). A ticket whose reply already waits for approval refuses
    a second one (edit and approve that one). Sending the same text twice (a double click) gives
    the first proposal back. Proposal, routing and their log entries are one transaction.
    """
    text = (body or "").strip()
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        payload = {"ticket": ticket.external_id, "body": text}
        try:
            validate_payload(ActionKind.POST_PUBLIC_REPLY, payload)
        except PayloadError as exc:
            raise WorkspaceError("invalid_reply", f"body: {exc.reason}", field="body") from None
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        key = f"support-lead:user-{user.pk}:ticket-{ticket.pk}:reply-{digest}"
        existing = ProposedAction.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        pending = ticket_reply_pending(ticket_id=ticket.pk)
        if pending is not None:
            raise WorkspaceError(
                "reply_pending",
                f"body: reply #{pending.pk} already waits for approval on this ticket; edit and approve it",
                field="body",
            )
        run = BotRun.objects.filter(ticket=ticket).only("summary").first()
        summary = run.summary if run is not None else {}
        suggested = str(summary.get("suggested_reply") or "")
        if not suggested:
            origin = "written on the ticket page"
        elif suggested.strip() == text:
            origin = f"the bot's suggested reply ({summary.get('article') or 'no article'}) sent unchanged"
        else:
            origin = f"the bot's suggested reply ({summary.get('article') or 'no article'}) edited"
        declared = RiskLevel.HIGH if summary.get("sensitive") else RiskLevel.LOW
        try:
            action = action_propose(
                kind=ActionKind.POST_PUBLIC_REPLY,
                domain=Domain.SUPPORT,
                payload=payload,
                rationale=f"Reply by {user.get_full_name() or user.get_username()}: {origin}.",
                # A person's reply has no model confidence; the policy does not trust this one.
                confidence=1.0,
                idempotency_key=key,
                proposed_by=_actor(user),
                proposed_by_user_id=user.pk,
                risk_level=risk_with_floor(declared, ActionKind.POST_PUBLIC_REPLY, payload),
                ticket_id=ticket.pk,
            )
        except DuplicateProposal as exc:  # the same text sent twice at once
            return exc.existing
        return action_route(action_id=action.pk, actor="policy")
