"""The helpdesk ticket as a subject of actions (``approvals.subjects``): registered in ``SupportConfig.ready``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from approvals.subjects import Subject, TargetRef
from approvals.targets import target_check
from support.models import Ticket


def _holds(action: Any) -> bool:
    return action.ticket_id is not None


def _record_of(action: Any) -> Ticket | None:
    return action.ticket


def _find(ref: TargetRef) -> Ticket | None:
    found = (
        Ticket.objects.filter(pk=ref)
        if isinstance(ref, int)
        else Ticket.objects.filter(source=ref[0], external_id=ref[1])
    )
    return found.only("pk", "external_id").first()


def _check(kind: str, payload: Mapping[str, Any], ticket: Ticket | None) -> None:
    # The helpdesk knows the ticket by its external id; a payload naming a ticket must name that one.
    target_check(kind, payload, lead=None, ticket=ticket.external_id if ticket is not None else "")


def _fields(ticket: Ticket | None) -> dict[str, Any]:
    """The ticket as the approver sees it: its helpdesk attributes, then its columns."""
    if ticket is None:
        return {}
    columns = {
        "ticket": ticket.external_id,
        "subject": ticket.subject,
        "requester_email": ticket.requester_email,
        "account": ticket.account.name if ticket.account else None,
        "status": ticket.status,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "assigned_group": ticket.assigned_group,
        "intent_label": ticket.intent_label,
    }
    return {**(ticket.attributes or {}), **columns}


TICKET = Subject(
    name="ticket",
    title="Ticket",
    holds=_holds,
    record_of=_record_of,
    fields=_fields,
    find=_find,
    check=_check,
)
