"""django-q2 tasks for the decision log: thin, idempotent wrappers around the services."""

from __future__ import annotations

from django.core.cache import cache

from audit.services import SEAL_QUEUED_KEY, audit_seal_pending
from taskruns.ledger import ledgered


@ledgered
def seal_pending_task() -> int:
    cache.delete(SEAL_QUEUED_KEY)
    return audit_seal_pending()
