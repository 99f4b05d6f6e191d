"""Tickets linked to the customer's account by the requester's email.

A ticket from a person we know as a lead of an account (the lead's email equals the requester's,
compared by their blind indexes, never decrypted) belongs to that account, so the support bot's
account lookup and the ticket's page see it. Only tickets without an account are linked: one linked
by hand or by an import keeps its account.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.bulk import LogEntry, decision_log_append_many
from audit.choices import EventType
from core.bulk import update_many
from sales.account_selectors import account_ids_by_email_index
from support.models import Ticket


def tickets_account_link(
    *, actor: str, ticket_ids: Iterable[int] = (), email_indexes: Iterable[str] = ()
) -> int:
    """Link the tickets without an account, among ``ticket_ids`` and those whose requester's email
    index is one of ``email_indexes``, to the account of the lead with the requester's email.
    Returns how many were linked; each gets a decision-log entry in the same transaction."""
    ids, indexes = list(ticket_ids), sorted(set(email_indexes) - {""})
    if not ids and not indexes:
        return 0
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update()
            .filter(Q(pk__in=ids) | Q(requester_email_index__in=indexes), account__isnull=True)
            .exclude(requester_email_index="")
            .only("pk", "account", "requester_email_index", "updated_at")
            .order_by("pk")
        )
        accounts = account_ids_by_email_index(indexes=[t.requester_email_index for t in tickets])
        now = timezone.now()
        linked = []
        for ticket in tickets:
            account_id = accounts.get(ticket.requester_email_index)
            if account_id is not None:
                ticket.account_id, ticket.updated_at = account_id, now
                linked.append(ticket)
        update_many(Ticket, linked, ["account", "updated_at"])
        decision_log_append_many(
            entries=[
                LogEntry(
                    event_type=EventType.ACCOUNTS_LINKED,
                    actor=actor,
                    subject_type="ticket",
                    subject_id=ticket.pk,
                    input_context={"by": "requester_email"},
                    action_taken={"account": {"from": None, "to": ticket.account_id}},
                )
                for ticket in linked
            ]
        )
    return len(linked)
