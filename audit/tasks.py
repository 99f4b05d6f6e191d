"""django-q2 tasks for the decision log: thin, idempotent wrappers around the services."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django_q.tasks import async_task

from audit.services import audit_seal_pending
from operations.task_runs import ledgered

logger = logging.getLogger(__name__)

# While this key exists a sealer run is already queued, so further commits do not queue another.
# The task deletes it when it starts; the timeout frees it if the worker never does (separate
# caches per process without Redis), so a commit waits at most this long to queue a run.
SEAL_QUEUED_KEY = "audit:seal-queued"
SEAL_DEBOUNCE_SECONDS = 5


@ledgered
def seal_pending_task() -> int:
    cache.delete(SEAL_QUEUED_KEY)
    return audit_seal_pending()


def enqueue_seal() -> None:
    """Queue one sealer run soon, unless one is already queued (called once an entry has committed).

    Never raises: the entry is already committed, and the every-minute schedule seals it anyway.
    """
    try:
        if cache.add(SEAL_QUEUED_KEY, 1, timeout=SEAL_DEBOUNCE_SECONDS):
            async_task(seal_pending_task, task_name="seal the decision log")
    except Exception:
        logger.exception("could not queue the decision-log sealer; the schedule will seal the entry")
