"""The rules of the task-run ledger, without the database: who may start a run, and what the
reaper does with a run whose lease ran out. ``taskruns.ledger`` applies them to ``TaskRun`` rows.

A run is one task function with one set of arguments. ``attempts`` counts the attempts that started;
``requeues`` counts the retries the reaper queued (one can be lost before it starts, so both are
bounded: nothing is retried forever).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    START = "start"  # a new run: attempt 1
    RETRY = "retry"  # the next attempt of this run
    SKIP = "skip"  # someone holds a live lease, or this task id belongs to a run that has finished
    GIVE_UP = "give_up"  # the run is out of attempts: mark it failed, never retry it


def arguments_key(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """The same arguments always give the same key (keyword order and tuples versus lists aside)."""
    canonical = json.dumps([list(args), dict(kwargs)], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_verdict(
    *, status: str | None, lease_live: bool, known_task: bool, attempts: int, max_attempts: int
) -> Verdict:
    """What a worker about to run a task does, given the run's row (``status`` None: no row yet).

    ``known_task``: the django-q task id being run already belongs to this run (a broker redelivering a
    task, or a retry the reaper queued twice).
    """
    if status is None:
        return Verdict.START
    if status == "running" and lease_live:
        return Verdict.SKIP
    if status in ("running", "retrying"):  # its worker died (lease over), or an attempt failed
        return Verdict.GIVE_UP if attempts >= max_attempts else Verdict.RETRY
    if known_task:  # succeeded or failed: a late copy of a finished run's task
        return Verdict.SKIP
    return Verdict.START


#: Why a queue timeout not shorter than the lease is refused, and what to do about it.
LEASE_OUTLIVED = "a task still running when its lease ends would be started a second time by the reaper"
LEASE_REMEDY = (
    "make the lease longer than Q_TIMEOUT (admin: Background tasks > Task settings) or lower Q_TIMEOUT"
)


def lease_refusal(*, timeout: object, lease_seconds: int) -> str | None:
    """What is wrong with running ledgered tasks under this queue timeout (``Q_CLUSTER["timeout"]``,
    from Q_TIMEOUT) and this lease, or None. The timeout must end every attempt before its lease does:
    otherwise a live slow task looks like a dead worker's, and the reaper starts it again beside it."""
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        return "Q_TIMEOUT is not set"
    if timeout >= lease_seconds:
        return (
            f"Q_TIMEOUT ({timeout} s) is not shorter than the task-run lease "
            f"(task settings lease_seconds, {lease_seconds} s)"
        )
    return None


def reap_verdict(*, attempts: int, requeues: int, max_attempts: int) -> Verdict:
    """What the reaper does with a run whose lease ran out (running: the worker died; retrying: the
    queued retry has not started in time, or an attempt failed and the next one is due)."""
    if attempts >= max_attempts or requeues >= 2 * max_attempts:
        return Verdict.GIVE_UP
    return Verdict.RETRY
