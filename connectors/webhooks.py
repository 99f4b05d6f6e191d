"""Webhook endpoints: ``/webhooks/<vendor>/<connection name or id>/``.

Each delivery is checked with the vendor's signature scheme and the connection's
``webhook_secret`` (its encrypted credentials, kept decrypted per process for a few seconds:
``connectors.webhook_targets``), stored raw and deduplicated by event id, and answered at once;
applying it is a task's job (``connectors.inbound``). A refused delivery gets a
bare 401 or 400, never a reason (the reason goes to our log), and leaves nothing stored.

A vendor that signs the URL it called (HubSpot) called our public address, which a TLS-terminating
proxy does not pass on: the URI checked is ``AGENTOPS_BASE_URL`` plus the path and query received.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connectors import crypto
from connectors.inbound import ReplayRefused, inbound_events_store
from connectors.inbound_vendors import INBOUND, IncomingRequest, WebhookRefused
from connectors.webhook_targets import webhook_target

logger = logging.getLogger(__name__)


def public_uri(request: HttpRequest) -> str:
    """The URL the vendor called: the configured public address (which may end in the path prefix
    the proxy strips) followed by the path within the app and the query exactly as received.
    Never the scheme and host of the request, which behind a proxy are the proxy's own."""
    return f"{settings.AGENTOPS_BASE_URL.rstrip('/')}{request.get_full_path_info()}"


def _refused(status: int) -> HttpResponse:
    return HttpResponse(b"", status=status, content_type="text/plain")


def _accepted(inbound: Any, incoming: IncomingRequest, secrets: tuple[str, ...], options: Any) -> Any:
    """The delivery's events, checked with each of the connection's secrets in turn: a signature
    that fails with one may be the other kind of webhook's (``webhook_targets.SECRET_KEYS``). Any
    other refusal (a bad body, a stale timestamp) is final."""
    now = time.time()
    for n, secret in enumerate(secrets):
        try:
            return inbound.accept(incoming, secret=secret, options=options, now=now)
        except WebhookRefused as exc:
            if exc.status != 401 or n == len(secrets) - 1:
                raise
    raise WebhookRefused("no webhook secret")


@csrf_exempt
@require_POST
def receive(request: HttpRequest, vendor: str, connection: str) -> HttpResponse:
    inbound = INBOUND.get(vendor)
    if inbound is None:
        return _refused(404)
    try:
        found = webhook_target(vendor=vendor, name_or_id=connection)
    except crypto.DecryptionError:
        logger.error("webhook for %s connection %r: credentials cannot be decrypted", vendor, connection)
        return _refused(503)
    if found is None:
        return _refused(404)
    target, secrets = found
    if not secrets:
        logger.warning("webhook for %s refused: no webhook_secret configured", target.name)
        return _refused(401)
    incoming = IncomingRequest(
        method=request.method or "POST",
        uri=public_uri(request),
        headers=request.headers,
        query=request.GET.dict(),
        body=request.body,
    )
    try:
        events = _accepted(inbound, incoming, secrets, target.options or {})
        stored = inbound_events_store(
            connection=target, events=events, raw_body=request.body.decode(errors="replace")
        )
    except WebhookRefused as exc:
        logger.warning("webhook for %s refused: %s", target.name, exc.reason)
        return _refused(exc.status)
    except ReplayRefused as exc:
        logger.warning("webhook for %s refused: event %s reused for another change", target.name, exc)
        return _refused(400)
    logger.debug("webhook for %s: %d new, %d repeated", target.name, stored.new, stored.duplicates)
    body, content_type = inbound.acknowledge()
    return HttpResponse(body, status=200, content_type=content_type)
