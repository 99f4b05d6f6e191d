"""The task-run ledger: every background task of ours claims a lease row before it runs.

``@ledgered`` wraps a task function (its signature and return value unchanged; it returns None when it
skips). Before the body runs, ``task_run_claim`` takes the run's row (task + arguments) with a lease:

- a second claimant while the lease is live skips, so two workers never run the same work at once;
- a worker killed mid-task leaves a lease that expires; the reaper (``task_runs_reap``, every minute)
  queues the run again, up to ``TaskSettings.max_attempts`` attempts, then marks it failed for good
  (shown in the admin and in ``/metrics``), never retried again;
- an attempt that raises is recorded with its error and retried the same way;
- a late copy of a finished run's django-q task (a broker redelivering it) is skipped.

The lease stops duplicates between workers; an effect made just before a worker dies (the call went
out, the success was not recorded) is repeated by the retry, so the work itself must be safe to run
twice: the connectors' executor checks its idempotency keys at the vendor before it calls again.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import os
import socket
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from taskruns.lease import (
    LEASE_OUTLIVED,
    LEASE_REMEDY,
    Verdict,
    arguments_key,
    claim_verdict,
    lease_refusal,
    reap_verdict,
)

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: How many django-q task ids a run remembers (to skip late copies of its tasks).
TASK_IDS_KEPT = 20
REAP_BATCH = 500

# The django-q task id of the task this worker process is about to run (set by the ``pre_execute``
# signal, taken by the wrapper), so a redelivered copy of a finished task is recognised.
_current_task_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_id", default=None)


def remember_task_id(sender: object, task: dict[str, Any], **kwargs: object) -> None:
    """``django_q.signals.pre_execute`` receiver (connected in ``TaskRunsConfig.ready``)."""
    _current_task_id.set(str(task.get("id") or "") or None)


def forget_task_id(sender: object, **kwargs: object) -> None:
    """``django_q.signals.post_execute_in_worker`` receiver: the id never leaks into a later direct call."""
    _current_task_id.set(None)


@dataclass(frozen=True)
class Claim:
    """A started attempt: ``token`` proves the lease is still this attempt's when it finishes."""

    run_id: int
    token: str
    attempt: int


@dataclass
class ReapSummary:
    retried: int = 0
    failed: int = 0
    pruned: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"retried": self.retried, "failed": self.failed, "pruned": self.pruned}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def task_settings_get() -> Any:
    from taskruns.models import TaskSettings

    return TaskSettings.objects.get_or_create(singleton=True)[0]


def worker_timeout() -> object:
    """The queue's task timeout in seconds (``Q_CLUSTER["timeout"]``, from Q_TIMEOUT)."""
    return settings.Q_CLUSTER.get("timeout")


def _remember(ids: list[str], task_id: str) -> list[str]:
    return [*[i for i in ids if i != task_id], task_id][-TASK_IDS_KEPT:]


def task_run_claim(
    *, func: str, args: list[Any], kwargs: dict[str, Any], task_id: str | None, now: datetime | None = None
) -> Claim | None:
    """Take the run of ``func`` with these arguments for this worker, or return None to skip it.
    Raises ``ImproperlyConfigured`` (and takes nothing) when Q_TIMEOUT is not shorter than the lease."""
    from taskruns.choices import TaskRunStatus
    from taskruns.models import TaskRun

    conf = task_settings_get()
    refusal = lease_refusal(timeout=worker_timeout(), lease_seconds=conf.lease_seconds)
    if refusal:
        raise ImproperlyConfigured(f"{refusal}: {LEASE_OUTLIVED}; {LEASE_REMEDY}")
    now = now or timezone.now()
    token = uuid.uuid4().hex
    task_id_is_real = bool(task_id)
    task_id = task_id or f"direct:{token}"  # a direct call is always a new request
    key = arguments_key(args, kwargs)
    lease_until = now + timedelta(seconds=conf.lease_seconds)
    holder = {"token": token, "worker": worker_name(), "lease_until": lease_until, "started_at": now}
    fresh = {
        "args": args,
        "kwargs": kwargs,
        "status": TaskRunStatus.RUNNING,
        "attempts": 1,
        "task_ids": [task_id],
    }
    if task_id_is_real and _belongs_to_failed_run(func=func, key=key, task_id=task_id):
        logger.info("task %s skipped: a late copy of a run that failed for good", func)
        return None
    with transaction.atomic():
        run, created = (
            TaskRun.objects.exclude(status=TaskRunStatus.FAILED)
            .select_for_update()
            .get_or_create(func=func, key=key, defaults={**fresh, **holder})
        )
        if created:
            return Claim(run_id=run.pk, token=token, attempt=1)
        verdict = claim_verdict(
            status=run.status,
            lease_live=run.lease_until is not None and run.lease_until > now,
            known_task=task_id in run.task_ids,
            attempts=run.attempts,
            max_attempts=conf.max_attempts,
        )
        if verdict is Verdict.SKIP:
            logger.info("task %s skipped: %s run #%s (%s)", func, run.status, run.pk, run.worker)
            return None
        if verdict is Verdict.GIVE_UP:
            _give_up(
                run, now=now, why=f"out of attempts ({run.attempts}); {run.last_error or 'lease expired'}"
            )
            return None
        if verdict is Verdict.START:
            run.attempts, run.requeues, run.last_error, run.task_ids = 1, 0, "", [task_id]
            run.finished_at = None
        else:  # RETRY
            run.attempts += 1
            run.task_ids = _remember(run.task_ids, task_id)
        run.status = TaskRunStatus.RUNNING
        for name, value in holder.items():
            setattr(run, name, value)
        run.save(
            update_fields=[
                "status", "attempts", "requeues", "last_error", "task_ids", "finished_at", *holder, "updated_at",
            ]
        )  # fmt: skip
        return Claim(run_id=run.pk, token=token, attempt=run.attempts)


def _belongs_to_failed_run(*, func: str, key: str, task_id: str) -> bool:
    from taskruns.choices import TaskRunStatus
    from taskruns.models import TaskRun

    recent = TaskRun.objects.filter(func=func, key=key, status=TaskRunStatus.FAILED).order_by("-id")
    return any(task_id in ids for ids in recent.values_list("task_ids", flat=True)[:5])


def _give_up(run: Any, *, now: datetime, why: str) -> None:
    from taskruns.choices import TaskRunStatus

    run.status, run.finished_at, run.lease_until, run.token = TaskRunStatus.FAILED, now, None, ""
    run.last_error = why[-4000:]
    run.save(update_fields=["status", "finished_at", "lease_until", "token", "last_error", "updated_at"])
    logger.error(
        "task run failed for good: %s #%s after %s attempts: %s", run.func, run.pk, run.attempts, why
    )


def _locked_own_run(claim: Claim) -> Any | None:
    from taskruns.models import TaskRun

    run = TaskRun.objects.select_for_update().filter(pk=claim.run_id).first()
    if run is None or run.token != claim.token:
        # The lease ran out while this attempt was still going and the run moved on without it.
        logger.warning(
            "task run #%s: attempt %s finished after losing its lease", claim.run_id, claim.attempt
        )
        return None
    return run


def task_run_succeed(*, claim: Claim, now: datetime | None = None) -> None:
    """Record that the claimed attempt completed."""
    from taskruns.choices import TaskRunStatus

    with transaction.atomic():
        run = _locked_own_run(claim)
        if run is None:
            return
        run.status, run.finished_at, run.lease_until = TaskRunStatus.SUCCEEDED, now or timezone.now(), None
        run.save(update_fields=["status", "finished_at", "lease_until", "updated_at"])


def task_run_fail(*, claim: Claim, error: str, now: datetime | None = None) -> None:
    """Record that the claimed attempt raised: the reaper retries it, or it fails for good when it
    was the last attempt allowed."""
    from taskruns.choices import TaskRunStatus

    now = now or timezone.now()
    conf = task_settings_get()
    with transaction.atomic():
        run = _locked_own_run(claim)
        if run is None:
            return
        if run.attempts >= conf.max_attempts:
            _give_up(run, now=now, why=f"attempt {run.attempts} of {conf.max_attempts} raised: {error}")
            return
        run.status, run.lease_until, run.last_error = TaskRunStatus.RETRYING, now, error[-4000:]
        run.save(update_fields=["status", "lease_until", "last_error", "updated_at"])


def task_runs_reap(*, now: datetime | None = None) -> ReapSummary:
    """Queue again the runs whose lease ran out (worker killed or hung, or a failed attempt due for a
    retry), mark those out of attempts failed, and delete old succeeded runs. Safe to run twice at
    once: each run is locked (others skip it) and moved past ``now`` before the transaction ends."""
    from django_q.tasks import async_task

    from taskruns.choices import TaskRunStatus
    from taskruns.models import TaskRun

    now = now or timezone.now()
    conf = task_settings_get()
    summary = ReapSummary()
    retries: list[tuple[int, str, list[Any], dict[str, Any], int]] = []
    with transaction.atomic():
        due = (
            TaskRun.objects.select_for_update(skip_locked=True)
            .filter(status__in=[TaskRunStatus.RUNNING, TaskRunStatus.RETRYING], lease_until__lte=now)
            .order_by("lease_until")[:REAP_BATCH]
        )
        for run in due:
            verdict = reap_verdict(
                attempts=run.attempts, requeues=run.requeues, max_attempts=conf.max_attempts
            )
            if verdict is Verdict.GIVE_UP:
                why = (
                    f"lease expired: worker {run.worker} died or hung"
                    if run.status == TaskRunStatus.RUNNING
                    else (run.last_error or "a queued retry never started")
                )
                _give_up(run, now=now, why=f"out of attempts ({run.attempts}): {why}")
                summary.failed += 1
                continue
            if run.status == TaskRunStatus.RUNNING:
                run.last_error = (
                    f"lease expired at {run.lease_until:%H:%M:%S}: worker {run.worker} died or hung"
                )
            run.status, run.token = TaskRunStatus.RETRYING, ""
            run.lease_until = now + timedelta(seconds=conf.lease_seconds)  # the retry must start by then
            run.requeues += 1
            run.save(update_fields=["status", "token", "lease_until", "requeues", "last_error", "updated_at"])
            retries.append((run.pk, run.func, run.args, run.kwargs, run.attempts + 1))
            summary.retried += 1
        summary.pruned, _ = TaskRun.objects.filter(
            status=TaskRunStatus.SUCCEEDED, finished_at__lt=now - timedelta(days=conf.keep_days)
        ).delete()
    # Queued once the new state has committed; if queuing fails, the lease runs out and the next
    # reaper pass queues it again (counted, so a broker that is down cannot make it loop forever).
    for run_id, func, args, kwargs, attempt in retries:
        try:
            task_id = async_task(func, *args, **kwargs, task_name=f"retry {attempt} of task run #{run_id}")
        except Exception:
            logger.exception("could not queue a retry of task run #%s", run_id)
            continue
        with transaction.atomic():
            queued = TaskRun.objects.select_for_update().filter(pk=run_id).first()
            if queued is not None:
                queued.task_ids = _remember(queued.task_ids, str(task_id))
                queued.save(update_fields=["task_ids"])
    return summary


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))[-4000:]


def ledgered(func: Callable[P, R]) -> Callable[P, R | None]:
    """Run ``func`` under the task-run ledger (see the module docstring); None when it skips."""
    path = f"{func.__module__}.{func.__qualname__}"
    signature = inspect.signature(func)

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R | None:
        task_id = _current_task_id.get()
        _current_task_id.set(None)  # a task calling another directly does not pass its id on
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        claim = task_run_claim(
            func=path, args=[_plain(a) for a in bound.args], kwargs=_plain(bound.kwargs), task_id=task_id
        )
        if claim is None:
            return None
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:  # the worker's timeout is a SystemExit: recorded too
            try:
                task_run_fail(claim=claim, error=_error_text(exc))
            except Exception:
                logger.exception("could not record the failure of task run #%s", claim.run_id)
            raise
        task_run_succeed(claim=claim)
        return result

    run.ledger_path = path  # type: ignore[attr-defined]
    return run


def _plain(value: Any) -> Any:
    """Arguments as stored for a retry: tuples and other sequences as lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value
