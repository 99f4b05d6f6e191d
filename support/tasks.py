"""django-q2 tasks: thin wrappers around the support services (safe to run twice)."""

from __future__ import annotations


def support_bot_run_task() -> dict[str, object]:
    """Run the support bot over the new tickets it has not handled yet."""
    from support.services import support_bot_run

    summary = support_bot_run()
    return {"model_version": summary.model_version, "tickets": summary.tickets, "outcomes": summary.outcomes}
