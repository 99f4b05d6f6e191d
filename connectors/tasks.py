"""Connector tasks (django-q2): thin and safe to run twice; the work is in ``inbound`` and ``sync``."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.core.cache import cache
from django_q.tasks import async_task

from connectors.execution import actions_execute
from connectors.inbound import inbound_process_pending, processing_debounce_key
from connectors.sync import sync_all
from taskruns.ledger import ledgered


@ledgered
def inbound_process_task(connection_id: int) -> dict[str, int]:
    # Cleared first: a delivery stored while this runs queues the next task.
    cache.delete(processing_debounce_key(connection_id))
    return inbound_process_pending(connection_id=connection_id).as_dict()


@ledgered
def inbound_sweep_task() -> dict[str, int]:
    """The periodic sweep: apply anything still ``received`` (a lost task, a read that failed)."""
    return inbound_process_pending().as_dict()


@ledgered
def sync_connections_task() -> dict[str, int]:
    """The periodic incremental sync of every active connection."""
    return sync_all().as_dict()


@ledgered
def execute_actions_task(slot: int = 0) -> dict[str, int]:
    """The periodic outbound run: execute approved actions of every kind until nothing is due
    (``connectors.execution``, the outbox). The scheduled run (slot 0) first queues slots 1 … n-1
    (``AGENTOPS_EXECUTOR_SLOTS``): the ledger lets one run per slot at a time, and the slots' claims
    are disjoint, so n task workers (on any number of machines) execute in parallel."""
    if slot == 0:
        for other in range(1, max(1, int(django_settings.AGENTOPS_EXECUTOR_SLOTS))):
            async_task(execute_actions_task, other, task_name=f"outbox slot {other}")
    return actions_execute().counts
