"""Which way an approved action that goes to another system leaves: a connection, or AgentOps's own mail.

The one place that says so, for the connectors' executor (``connectors.execution``; the kinds AgentOps
carries out itself have executors of their own in ``approvals.executors``'s registry):

- ``MAIL_KINDS`` (``send_email``) are sent by AgentOps's own mail connector (``connectors.mail``,
  through Django's email backend), whatever the CRM: no CRM sends our email, and a CRM "email
  engagement" only logs one. The CRM learns of it from its own mailbox integration, as with a
  person's email.
- Every other kind goes through the connection its ``ActionRoute`` names (kind and domain, else
  kind alone), and only when that connection holds the kind in its write scopes.
"""

from __future__ import annotations

from django.db.models import Q

from approvals.choices import ActionKind
from connectors.models import ActionRoute, Connection

MAIL_KINDS: frozenset[str] = frozenset({ActionKind.SEND_EMAIL})
#: The mail connector's vendor, and what kill switches and quotas call it (its "connection" name).
MAIL_CONNECTOR = "email"


class RouteRefused(Exception):
    """No connection may execute this action; ``code`` is ``no_route``, ``inactive`` or ``no_write_scope``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def connection_for(*, kind: str, domain: str) -> Connection:
    """The connection that executes ``kind`` in ``domain``; ``RouteRefused`` with a clear reason."""
    routes = list(
        ActionRoute.objects.select_related("connection")
        .filter(Q(domain=domain) | Q(domain=""), kind=kind, is_active=True)
        .order_by("-domain")  # the route naming the domain before the catch-all
    )
    if not routes:
        raise RouteRefused("no_route", f"no active route sends {kind} ({domain}) to a connection")
    connection = routes[0].connection
    if not connection.is_active:
        raise RouteRefused("inactive", f"connection {connection.name} is inactive")
    if not connection.may_write(kind):
        raise RouteRefused(
            "no_write_scope",
            f"connection {connection.name} is not granted {kind} in its write scopes (read-only by default)",
        )
    return connection
