"""Text messages, whatever the provider: numbers, the index that finds who we texted, where receipts
come back, and the veto that keeps an SMS from being proposed when nothing can send it.

``send_sms`` goes through the connection its ``ActionRoute`` names (Twilio: ``connectors/twilio/``),
like a CRM write. Without an active route to a connection that holds ``send_sms`` in its write
scopes and whose vendor sends text messages, no SMS can go out; ``sms_route_refusals`` is then a
veto (``approvals.executors``, registered in ``ConnectorsConfig.ready``): an SMS proposal is refused
(``code`` ``no_sms_route``), a cadence's SMS step is skipped with the reason (``kind_refusals``), and
an SMS approved before the route went away is cancelled before it goes out, never failed mid-way.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from approvals.choices import ActionKind
from approvals.executors import Refusal
from approvals.schemas import default_domain
from connectors.base import sends_sms
from connectors.registry import vendor_class
from connectors.routing import RouteRefused, connection_for
from security.crypto import blind_index

_SEPARATORS = re.compile(r"[\s().\-/]")


def e164(number: str) -> str:
    """``number`` in E.164 as providers write it (``+14155550100``): separators dropped, a leading
    ``00`` read as ``+``; "" when what is left is not ``+`` and 8-15 digits."""
    compact = _SEPARATORS.sub("", number or "")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    return compact if re.fullmatch(r"\+[1-9]\d{7,14}", compact) else ""


def recipient_index(number: str) -> str:
    """The keyed HMAC of ``number`` in E.164 ("" for what is not a phone number): an indexed,
    unreadable key for "the number we texted" (``ActionExecution.recipient_index``)."""
    normalised = e164(number)
    return blind_index(normalised) if normalised else ""


def status_callback_url(*, vendor: str, connection: str, action_id: int) -> str:
    """The public URL where the provider reports the delivery of the text ``action_id`` sends
    (``/webhooks/<vendor>/<connection>/status/?action=<id>``); "" when the vendor has no status webhook."""
    try:
        path = reverse(f"connectors:{vendor}:status", kwargs={"connection": connection})
    except NoReverseMatch:
        return ""
    return f"{settings.AGENTOPS_BASE_URL.rstrip('/')}{path}?action={action_id}"


def sms_kind_refusals(kind: str, domain: str) -> list[Refusal]:
    """Why no ``kind`` action in ``domain`` can go out at all, whatever its lead: for ``send_sms``, no
    active route with write scope to a connection whose vendor sends text messages. Other kinds: none."""
    if kind != ActionKind.SEND_SMS:
        return []
    try:
        connection = connection_for(kind=kind, domain=domain)
    except RouteRefused as refused:
        return [Refusal("kind", f"no SMS provider: {refused} (admin: Connectors › Action routes)")]
    found = vendor_class(connection.vendor)
    if found is None or not sends_sms(found):
        return [
            Refusal(
                "kind",
                f"no SMS provider: connection {connection.name} ({connection.vendor}) does not send text messages",
            )
        ]
    return []


def sms_route_refusals(action: Any) -> list[Refusal]:
    """``sms_kind_refusals`` for one action (a proposal not stored yet has no domain: its default)."""
    if action.kind != ActionKind.SEND_SMS:
        return []
    domain = action.domain or default_domain(
        action.kind, has_lead=action.lead_id is not None, has_ticket=action.ticket_id is not None
    )
    return sms_kind_refusals(action.kind, domain)
