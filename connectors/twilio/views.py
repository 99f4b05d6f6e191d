"""Twilio's webhooks to a connection: message status callbacks and texts received.

- ``POST /webhooks/twilio/<connection>/status/?action=<id>``: the ``StatusCallback`` every text we
  send carries (``connectors.execution`` builds it from ``AGENTOPS_BASE_URL``);
- ``POST /webhooks/twilio/<connection>/inbound/``: the number's (or Messaging Service's) "a message
  comes in" webhook, configured at Twilio.

Both are form POSTs signed with ``X-Twilio-Signature`` over the public URL Twilio called
(``AGENTOPS_BASE_URL`` + the path and query received, as for HubSpot behind a proxy) and the form
fields, keyed with the connection's ``auth_token``; checked with the official client's
``RequestValidator``. A missing or wrong signature, an unknown or inactive connection, or no token
configured: 401 or 404 with nothing stored. A text received is answered with empty TwiML (no
automatic answer of ours: Twilio answers STOP, START and HELP itself).
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from connectors import crypto
from connectors.models import Connection
from connectors.twilio.inbound import sms_inbound_apply, sms_status_apply
from connectors.twilio.signature import SIGNATURE_HEADER
from connectors.webhook_targets import webhook_target
from connectors.webhooks import public_uri

logger = logging.getLogger(__name__)

VENDOR = "twilio"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _signed_by_twilio(request: HttpRequest, connection: str) -> Connection | HttpResponse:
    """The connection, when the request carries its signature; else the refusal to answer."""
    try:
        found = webhook_target(vendor=VENDOR, name_or_id=connection)
        token = str(found[0].credentials.get("auth_token", "")) if found is not None else ""
    except crypto.DecryptionError:
        logger.error("twilio webhook for %r: credentials cannot be decrypted", connection)
        return HttpResponse(b"", status=503, content_type="text/plain")
    if found is None:
        return HttpResponse(b"", status=404, content_type="text/plain")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if (
        not token
        or not signature
        or not RequestValidator(token).validate(public_uri(request), request.POST, signature)
    ):
        logger.warning("twilio webhook for %s refused: bad or missing %s", found[0].name, SIGNATURE_HEADER)
        return HttpResponse(b"", status=401, content_type="text/plain")
    return found[0]


@csrf_exempt
@require_POST
def status(request: HttpRequest, connection: str) -> HttpResponse:
    found = _signed_by_twilio(request, connection)
    if isinstance(found, HttpResponse):
        return found
    action = request.GET.get("action", "")
    applied = sms_status_apply(
        connection=found, params=request.POST.dict(), action_id=int(action) if action.isdigit() else None
    )
    return JsonResponse({"status": applied.status, "kind": applied.kind, "reason": applied.reason})


@csrf_exempt
@require_POST
def inbound(request: HttpRequest, connection: str) -> HttpResponse:
    found = _signed_by_twilio(request, connection)
    if isinstance(found, HttpResponse):
        return found
    applied = sms_inbound_apply(connection=found, params=request.POST.dict())
    logger.debug("twilio inbound for %s: %s %s %s", found.name, applied.status, applied.kind, applied.reason)
    return HttpResponse(EMPTY_TWIML, status=200, content_type="text/xml")
