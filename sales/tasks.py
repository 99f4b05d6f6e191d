"""django-q2 tasks: thin wrappers around the sales services (safe to run twice)."""

from __future__ import annotations

from collections.abc import Sequence

from django_q.tasks import async_task

from taskruns.ledger import ledgered


@ledgered
def playbooks_run_task(
    lead_ids: Sequence[int] | None = None, actor: str = "task:playbooks"
) -> dict[str, object]:
    from sales.services import playbooks_run

    return playbooks_run(actor=actor, lead_ids=lead_ids).as_dict()


def enqueue_playbooks(lead_ids: Sequence[int] | None, *, reason: str) -> str:
    """Queue a playbook run over ``lead_ids`` (None: every lead), e.g. after they were scored."""
    return async_task(
        playbooks_run_task,
        list(lead_ids) if lead_ids is not None else None,
        f"task:playbooks ({reason})",
        task_name=f"playbooks ({reason})",
    )


def playbooks_after_scoring(*, lead_ids: Sequence[int] | None) -> None:
    """``leads.scored`` subscriber: new acting scores may make playbook rules fire."""
    enqueue_playbooks(lead_ids, reason="after scoring")


@ledgered
def cadences_tick_task() -> dict[str, object]:
    """Every few minutes: take due steps and exits (safe to overlap). Approved enrolments start in
    the outbox, like every approved action."""
    from sales.cadence_services import cadences_advance

    return {"steps": cadences_advance().as_dict()}
