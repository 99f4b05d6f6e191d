"""Twilio's Programmable Messaging, on the official ``twilio`` client (9.x): ``send_sms``.

A ``send_sms`` action goes out as ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (the
client's ``messages.create``) from the connection's number (``options.from_number``) or Messaging
Service (``options.messaging_service_sid``), with a ``StatusCallback`` URL on our webhook
(``connectors.twilio.views``) that names the action, so each receipt finds its action even when the
create's answer was lost. Credentials: ``account_sid`` and ``auth_token`` (the same token signs
Twilio's webhooks to us). ``base_url`` is ``https://api.twilio.com``, or the sandbox's address: the
client's Api domain takes any base URL.

Twilio's messages carry no field of ours to find one again, so an attempt whose outcome is unknown
(timeout, dropped connection, 5xx) is never repeated: the outbox fails it for a person to check
(a second text is worse than a late one), as it does email.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from connectors import crm
from connectors.base import ConnectionConfig, Connector, ConnectorError, WriteResult
from connectors.registry import register

DEFAULT_BASE_URL = "https://api.twilio.com"
#: Twilio's "Too Many Requests" (also sent as HTTP 429) and its queue-full error.
RATE_LIMIT_CODES = frozenset({20429, 30001})
#: The client logs every request and its headers at INFO; each call is in our own call log
#: (``connectors.calls``) already, so only its warnings are kept.
_client_log = logging.getLogger("connectors.twilio.client")
_client_log.setLevel(logging.WARNING)


@register
class TwilioConnector(Connector):
    """Text messages through Twilio."""

    vendor: ClassVar[str] = "twilio"

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config)
        credentials = config.credentials
        self.account_sid = str(credentials.get("account_sid", ""))
        http = TwilioHttpClient(timeout=config.timeout_seconds, logger=_client_log)
        self.client = Client(self.account_sid, str(credentials.get("auth_token", "")), http_client=http)
        self.client.api.base_url = (config.base_url or DEFAULT_BASE_URL).rstrip("/")

    def send_sms(self, *, to: str, body: str, marker: str, status_callback: str = "") -> WriteResult:
        options = self.config.options
        sender: dict[str, Any] = (
            {"messaging_service_sid": options["messaging_service_sid"]}
            if options.get("messaging_service_sid")
            else {"from_": options.get("from_number", "")}
        )
        if not any(sender.values()):
            raise ConnectorError(
                "options: set from_number (or messaging_service_sid) on the Twilio connection",
                retryable=False,
                code="invalid",
            )
        extra = {"status_callback": status_callback} if status_callback else {}
        try:
            message = self.client.messages.create(to=to, body=body, **sender, **extra)
        except TwilioRestException as exc:
            code = "rate_limited" if exc.code in RATE_LIMIT_CODES else None
            raise crm.error_for_status(exc.status, f"Twilio error {exc.code}: {exc.msg}", code=code) from exc
        except requests.Timeout as exc:
            raise crm.timeout_error(exc) from exc
        except requests.ConnectionError as exc:
            raise crm.connection_error(exc) from exc
        except TwilioException as exc:  # an answer the client could not read
            raise ConnectorError(f"Twilio: {exc}", retryable=True, code="server_error") from exc
        return WriteResult(vendor_id=str(message.sid), created=True, marker=marker)
