"""Thin task wrappers for django-q (scheduled by a data migration)."""

from __future__ import annotations

from privacy.retention import retention_purge
from taskruns.ledger import ledgered


@ledgered
def purge_expired_task() -> dict[str, int]:
    """Apply the retention policies (daily); safe to run twice."""
    return retention_purge()
