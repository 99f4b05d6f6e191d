"""A HubSpot sandbox with contacts, a connection routed for tasks, and approved actions, for the
execution tests (plain helpers, shared by test_execution.py and test_execution_faults.py)."""

from __future__ import annotations

from dataclasses import dataclass

from approvals.choices import ActionStatus
from approvals.models import ProposedAction
from approvals.services import payload_sha256
from connectors.base import ConnectionConfig
from connectors.execution import ExecutionSettings
from connectors.models import ActionRoute, Connection
from connectors.registry import connector_for
from connectors.resilience import BreakerPolicy, RetryPolicy
from connectors.sandbox.hubspot import HubSpotSandbox
from connectors.throttle import MemoryStore
from sales.models import Lead

TOKEN = "sandbox-token"


@dataclass
class World:
    sandbox: object
    connection: Connection

    @property
    def app(self) -> HubSpotSandbox:
        return self.sandbox.app  # type: ignore[attr-defined, no-any-return]

    def tasks_created(self) -> int:
        return int(self.app.effects[("create", "tasks")])


def fast_settings(**overrides) -> ExecutionSettings:
    """Short backoff, breaker and leases, so fault tests run in seconds."""
    values = {
        "lease_seconds": 5.0,
        "max_attempts": 15,
        "retry": RetryPolicy(base_seconds=0.02, cap_seconds=0.5),
        "breaker": BreakerPolicy(failure_threshold=8, open_seconds=0.1, probe_timeout_seconds=1.0),
        "hold_recheck_seconds": 30.0,
        "batch_size": 20,
        "idle_seconds": 1.5,
        "store": MemoryStore(),
    }
    values.update(overrides)
    return ExecutionSettings(**values)


def hubspot_world(serve_sandbox, *, leads: int, scopes=("create_task",), timeout: float = 0.25) -> World:
    """A HubSpot sandbox (its published rate limit off) with one contact per lead, and a connection
    routed for create_task with ``scopes``."""
    sandbox = serve_sandbox(HubSpotSandbox())
    sandbox.app.rate_limit = None
    contact_ids = sandbox_contacts(sandbox.url, leads)
    connection = seed_rows(sandbox.url, contact_ids, scopes=scopes, timeout=timeout)
    return World(sandbox, connection)


def sandbox_contacts(url: str, count: int) -> list[str]:
    """Create ``count`` contacts in the HubSpot sandbox at ``url``; their ids."""
    client = connector_for(
        ConnectionConfig(
            vendor="hubspot", base_url=url, credentials={"access_token": TOKEN}, timeout_seconds=5
        )
    )
    results = client.upsert(
        "contact",
        id_property="agentops_external_id",
        records=[
            {"agentops_external_id": f"lead-{n}", "email": f"lead{n}@example.com"} for n in range(count)
        ],
    )
    return [r.vendor_id for r in results]


def seed_rows(
    url: str, contact_ids: list[str], *, scopes=("create_task",), timeout: float = 0.25
) -> Connection:
    """The connection to the sandbox at ``url``, its create_task route, and one lead per contact
    (also run in a child process against a database file, by the kill -9 test)."""
    connection = Connection(
        name="hubspot-sandbox",
        vendor="hubspot",
        base_url=url,
        timeout_seconds=timeout,
        write_scopes=list(scopes),
    )
    connection.set_credentials({"access_token": TOKEN})
    connection.save()
    ActionRoute.objects.create(kind="create_task", connection=connection)
    Lead.objects.bulk_create(
        [
            Lead(source="demo", external_id=f"lead-{n}", last_name=f"Lead {n}", hubspot_id=vendor_id)
            for n, vendor_id in enumerate(contact_ids)
        ]
    )
    return connection


def approved_tasks(count: int, *, prefix: str = "task") -> list[int]:
    """``count`` approved create_task actions, one per lead (oldest leads first)."""
    leads = list(Lead.objects.order_by("pk")[:count])
    actions = []
    for n, lead in enumerate(leads):
        payload = {"subject": f"Call {lead.last_name}", "description": "About the demo."}
        actions.append(
            ProposedAction(
                kind="create_task",
                domain="sales",
                lead=lead,
                payload=payload,
                rationale="Hot lead.",
                confidence=0.9,
                status=ActionStatus.APPROVED,
                approved_payload_sha256=payload_sha256(payload),
                idempotency_key=f"{prefix}-{n}",
                proposed_by="sdr-agent:cadences",
            )
        )
    ProposedAction.objects.bulk_create(actions)
    return list(
        ProposedAction.objects.filter(idempotency_key__startswith=f"{prefix}-").values_list("pk", flat=True)
    )
