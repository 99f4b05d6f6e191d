"""Slack's interactivity endpoint: button presses and modal submissions from AgentOps's cards.

Every request must carry Slack's signature of its body made with the app's signing secret, and a
timestamp within five minutes (``slack_sdk.signature.SignatureVerifier``); anything else is refused
with 401 before its payload is read. A CSRF token cannot come from Slack: the signature replaces it.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.signature import SignatureVerifier

from notifications.slack.services import slack_interaction_handle


def _signed_by_slack(request: HttpRequest) -> bool:
    if not settings.SLACK_SIGNING_SECRET:
        return False
    try:
        return SignatureVerifier(settings.SLACK_SIGNING_SECRET).is_valid_request(
            request.body, dict(request.headers)
        )
    except ValueError:  # a timestamp that is not a number
        return False


@csrf_exempt
@require_POST
def interactivity(request: HttpRequest) -> HttpResponse:
    if not _signed_by_slack(request):
        return HttpResponse("invalid or stale signature", status=401, content_type="text/plain")
    try:
        payload = json.loads(request.POST.get("payload", ""))
    except ValueError:
        return HttpResponse("payload: not JSON", status=400, content_type="text/plain")
    if not isinstance(payload, dict):
        return HttpResponse("payload: not an object", status=400, content_type="text/plain")
    answer = slack_interaction_handle(payload)
    return JsonResponse(answer) if answer is not None else HttpResponse(status=200)
