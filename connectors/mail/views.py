"""The endpoints of AgentOps's own mail: the inbound-mail webhook and the hosted unsubscribe page.

``POST /webhooks/mail/inbound/`` takes one incoming message from an MTA or an inbound-mail provider,
signed with ``X-AgentOps-Signature`` (``connectors.mail.signature``): the raw RFC 5322 message as the
body (``Content-Type: message/rfc822``), or JSON ``{"raw": "<the message>", "recipients": [...]}``
(``raw_base64`` instead of ``raw`` for bytes that are not UTF-8). The format is in docs/connectors.md.

``/webhooks/mail/unsubscribe/<token>/`` is the link in every email to a lead: GET shows a page
asking to confirm and changes nothing (mail scanners open links); POST unsubscribes, whether the
page's button or a mailbox's RFC 8058 one-click POST (``List-Unsubscribe=One-Click``), which carries
no CSRF token: the signed token in the address is what authorises it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from connectors.mail.inbound import inbound_mail_apply, lead_unsubscribe
from connectors.mail.reading import UnreadableMail, mail_read
from connectors.mail.signature import SIGNATURE_HEADER, inbound_mail_verify
from sales.event_services import LeadEventError
from sales.unsubscribe import UnsubscribeLinkInvalid, unsubscribe_token_lead

logger = logging.getLogger(__name__)


class _BadDelivery(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def _message(request: HttpRequest) -> tuple[bytes, list[str]]:
    """The raw message and the envelope recipients of a delivery (see the module)."""
    if request.content_type != "application/json":
        return request.body, []
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise _BadDelivery("body", "is not valid JSON") from None
    if not isinstance(data, dict):
        raise _BadDelivery("body", "must be a JSON object")
    recipients = data.get("recipients", [])
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise _BadDelivery("recipients", "must be a list of addresses")
    if isinstance(data.get("raw"), str):
        return data["raw"].encode("utf-8"), recipients
    if isinstance(data.get("raw_base64"), str):
        try:
            return base64.b64decode(data["raw_base64"], validate=True), recipients
        except (binascii.Error, ValueError):
            raise _BadDelivery("raw_base64", "is not valid base64") from None
    raise _BadDelivery("raw", "is required: the message as RFC 5322 text (or raw_base64)")


@csrf_exempt
@require_POST
def inbound(request: HttpRequest) -> HttpResponse:
    secret = settings.AGENTOPS_INBOUND_MAIL_SECRET
    if not secret:
        logger.warning("inbound mail refused: AGENTOPS_INBOUND_MAIL_SECRET is not set")
        return HttpResponse(b"", status=401, content_type="text/plain")
    if not inbound_mail_verify(
        secret=secret, body=request.body, signature=request.headers.get(SIGNATURE_HEADER, "")
    ):
        logger.warning("inbound mail refused: bad or missing %s", SIGNATURE_HEADER)
        return HttpResponse(b"", status=401, content_type="text/plain")
    try:
        raw, recipients = _message(request)
        read = mail_read(raw, recipients=recipients)
    except _BadDelivery as bad:
        return JsonResponse({"field": bad.field, "reason": bad.reason}, status=400)
    except UnreadableMail as bad:
        return JsonResponse({"field": "raw", "reason": str(bad)}, status=400)
    return JsonResponse(inbound_mail_apply(read=read).as_dict())


def _invalid(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "mail/unsubscribe.html", {"state": "invalid", "reason": reason}, status=400)


@csrf_exempt  # RFC 8058's one-click POST comes from the mailbox provider, without a CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        lead_id = unsubscribe_token_lead(token=token)
    except UnsubscribeLinkInvalid as invalid:
        return _invalid(request, invalid.reason)
    if request.method == "GET":
        return render(request, "mail/unsubscribe.html", {"state": "confirm"})
    try:
        lead_unsubscribe(lead_id=lead_id, token=token)
    except LeadEventError:
        return _invalid(request, "the link is not one we sent")
    return render(request, "mail/unsubscribe.html", {"state": "done"})
