"""Twilio's Programmable Messaging API, emulated closely enough that the official ``twilio`` client
cannot tell, and its webhooks as Twilio sends them.

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form fields ``To``, ``From`` or
  ``MessagingServiceSid``, ``Body``, ``StatusCallback``) answers 201 with a Message resource
  (``sid`` ``SM`` + 32 hex, ``status`` ``queued``, ``direction`` ``outbound-api`` …);
  ``GET …/Messages/{Sid}.json`` reads one back. HTTP Basic authentication with the account SID and
  its auth token. Errors are Twilio's ``{"code", "message", "more_info", "status"}``: 21211 for a
  ``To`` that is not a phone number, 21602 without a body, 21603/21604 without a sender, 20003
  for bad credentials, 20429 (HTTP 429) over the rate limit.
- **Status callbacks**: each message with a ``StatusCallback`` gets a form POST there, signed with
  ``X-Twilio-Signature`` (``connectors.twilio.signature``): ``sent``, then ``delivered``; for a
  number set with ``fail_delivery`` (Twilio's behaviour for unknown handsets, landlines …),
  ``undelivered`` or ``failed`` with its ``ErrorCode``. Each comes ``callback_delay_seconds``
  after the one before; ``webhooks.duplicate_rate`` repeats some, as Twilio may.
- **Inbound messages**: ``deliver_inbound(from_, to, body)`` posts what Twilio posts to the
  number's "a message comes in" webhook (``inbound_url``), signed alike.

Like Twilio, a message created twice is sent twice: nothing here deduplicates.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
import urllib.error
import urllib.request
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlencode

from connectors.sandbox import register_emulator
from connectors.sandbox.server import (
    RateLimitState,
    Request,
    Response,
    SandboxApp,
    SandboxError,
    WebhookEmitter,
    route,
)
from connectors.twilio.signature import SIGNATURE_HEADER, twilio_sign

API_VERSION = "2010-04-01"
_E164 = re.compile(r"\+[1-9]\d{7,14}")
_ACCOUNT = r"/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})"


class _Callbacks(WebhookEmitter):
    """Twilio's callbacks: each event is ``(url, params, delay)``, posted form-encoded to its own
    URL after ``delay`` seconds and signed over that URL and its parameters."""

    def __init__(self, app: TwilioSandbox) -> None:
        super().__init__(lambda body: {})
        self.app = app
        self.url = "per message"  # Twilio posts to each message's own StatusCallback

    def _post(self, url: str | None, event: Any) -> int | None:
        target, params, delay = event
        time.sleep(delay)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": params.get("MessageSid", "") + params.get("MessageStatus", ""),
            SIGNATURE_HEADER: twilio_sign(auth_token=self.app.auth_token, url=target, params=params),
        }
        request = urllib.request.Request(  # noqa: S310 - a local webhook target
            target, data=urlencode(params).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as answer:  # noqa: S310
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None


@register_emulator
class TwilioSandbox(SandboxApp):
    """One Twilio account's messages, in memory."""

    name = "twilio"
    default_port = 8815
    account_sid = "AC" + "5a" * 16
    auth_token = "twilio-sandbox-auth-token"  # noqa: S105 - a sandbox constant, not a credential
    #: The numbers and Messaging Service the account owns (a ``From`` must be one of them).
    numbers = ("+15005550006",)
    messaging_service_sid = "MG" + "5a" * 16

    def __init__(self) -> None:
        #: Seconds between a message's callbacks (Twilio's come seconds apart).
        self.callback_delay_seconds = 0.05
        #: Where inbound messages to the account's numbers are posted (the number's SmsUrl).
        self.inbound_url: str | None = None
        super().__init__()
        self.webhooks = _Callbacks(self)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            #: To number → (final status, error code) for deliveries that fail.
            self.failing: dict[str, tuple[str, str]] = {}

    def fail_delivery(self, number: str, *, status: str = "undelivered", error_code: str = "30005") -> None:
        """Messages to ``number`` end ``status`` with ``error_code`` (30005: unknown handset)."""
        with self.lock:
            self.failing[number] = (status, error_code)

    def messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(m) for m in self.tables["message"].values()]

    # Vendor hooks ------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, code: str) -> Any:
        number = int(code) if code.isdigit() else {401: 20003, 404: 20404, 429: 20429}.get(status, 20500)
        return {
            "code": number,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{number}",
            "status": status,
        }

    def rate_limited_response(self, state: RateLimitState) -> Response:
        return self.error(429, "Too Many Requests", "20429", {"Retry-After": "1"})

    def extra_headers(self, request: Request, response: Response) -> dict[str, str]:
        return {"Twilio-Request-Id": "RQ" + secrets.token_hex(16)}

    def authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization") or ""
        try:
            user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user, password = "", ""
        if not header.startswith("Basic ") or user != self.account_sid or password != self.auth_token:
            raise SandboxError(401, "Authenticate", code="20003")
        if request.params.get("account") not in (None, self.account_sid):
            raise SandboxError(404, "The requested resource was not found", code="20404")

    # Messages ----------------------------------------------------------------------------------
    @route("POST", _ACCOUNT + r"/Messages\.json")
    def create_message(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        to, body = form.get("To", ""), form.get("Body", "")
        sender, service = form.get("From", ""), form.get("MessagingServiceSid", "")
        if not _E164.fullmatch(to):
            raise SandboxError(400, f"The 'To' number {to} is not a valid phone number.", code="21211")
        if not body:
            raise SandboxError(400, "Message body is required.", code="21602")
        if not sender and not service:
            raise SandboxError(400, "A 'From' phone number is required.", code="21604")
        if sender and sender not in self.numbers:
            raise SandboxError(
                400,
                f"The From phone number {sender} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
                code="21606",
            )
        if service and service != self.messaging_service_sid:
            raise SandboxError(400, "Invalid messagingServiceSid", code="21703")
        now = formatdate(usegmt=True)
        sid = "SM" + secrets.token_hex(16)
        message = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or self.numbers[0],
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": str(max(1, -(-len(body) // 160))),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        with self.lock:
            self.tables["message"][sid] = message
            self.effect("create", "message")
            final = self.failing.get(to, ("delivered", ""))
        callback = form.get("StatusCallback")
        if callback:
            for status, error in (("sent", ""), final):
                self.webhooks.emit(
                    (callback, self._status_params(message, status, error), self.callback_delay_seconds)
                )
        return self.json(message, status=201)

    @route("GET", _ACCOUNT + r"/Messages/(?P<sid>SM[0-9a-f]{32})\.json")
    def get_message(self, request: Request) -> Response:
        with self.lock:
            message = self.tables["message"].get(request.params["sid"])
        if message is None:
            raise SandboxError(404, "The requested resource was not found", code="20404")
        return self.json(message)

    def _status_params(self, message: dict[str, Any], status: str, error_code: str) -> dict[str, str]:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message["from"],
            "To": message["to"],
            "MessageSid": message["sid"],
            "SmsSid": message["sid"],
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if message["messaging_service_sid"]:
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        if error_code:
            params["ErrorCode"] = error_code
        with self.lock:
            message.update(status=status, error_code=int(error_code) if error_code else None)
        return params

    # Inbound -----------------------------------------------------------------------------------
    def deliver_inbound(self, *, from_: str, body: str, to: str | None = None) -> str:
        """A person texts ``body`` from ``from_`` to one of the account's numbers: Twilio posts it to
        ``inbound_url``, signed (queued like the callbacks; ``webhooks.drain()`` waits for it).
        Returns the inbound message's sid."""
        if self.inbound_url is None:
            raise ValueError("set inbound_url (the number's 'a message comes in' webhook) first")
        sid = "SM" + secrets.token_hex(16)
        params = {
            "ToCountry": "US",
            "ToState": "CA",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ToCity": "",
            "FromZip": "",
            "SmsSid": sid,
            "FromState": "",
            "SmsStatus": "received",
            "FromCity": "",
            "Body": body,
            "FromCountry": "US",
            "To": to or self.numbers[0],
            "ToZip": "",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
        with self.lock:
            self.effect("receive", "message")
        self.webhooks.emit((self.inbound_url, params, 0.0))
        return sid
