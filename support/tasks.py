"""django-q2 tasks: thin wrappers around the support services (safe to run twice)."""

from __future__ import annotations

from collections.abc import Sequence

from taskruns.ledger import ledgered


@ledgered
def support_bot_run_task(ticket_ids: Sequence[int] | None = None) -> dict[str, object]:
    """Run the support bot over the new tickets it has not handled yet (and second passes due), or
    only over ``ticket_ids`` when given."""
    from support.services import support_bot_run

    summary = support_bot_run(ticket_ids=list(ticket_ids) if ticket_ids is not None else None)
    return {"model_version": summary.model_version, "tickets": summary.tickets, "outcomes": summary.outcomes}
