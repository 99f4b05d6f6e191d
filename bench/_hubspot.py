"""The HubSpot connection the benchmarks write through: the sandbox at ``sandbox_url``, throttled
to the sandbox's published limit, routed for ``update_crm_fields`` (call after ``django.setup()``)."""

from __future__ import annotations

from typing import Any


def crm_write_connection(sandbox_url: str) -> Any:
    from connectors.models import ActionRoute, Connection
    from connectors.sandbox.hubspot import HubSpotSandbox

    max_requests, window = HubSpotSandbox.DEFAULT_LIMIT
    connection = Connection(
        name="hubspot-sandbox",
        vendor="hubspot",
        base_url=sandbox_url,
        timeout_seconds=10.0,
        write_scopes=["update_crm_fields"],
        options={"rate_limit": {"max_requests": max_requests, "window_seconds": window}},
    )
    connection.set_credentials({"access_token": "sandbox-token"})
    connection.save()
    ActionRoute.objects.create(kind="update_crm_fields", connection=connection)
    return connection
