"""AgentOps's own mail sender, a connector like the vendors' (``send_email`` only).

A ``send_email`` action is sent by AgentOps, whatever the CRM: no CRM sends a sales email for us, and
a CRM "email engagement" only logs one. This connector sends through Django's email backend
(``EMAIL_BACKEND``: SMTP in production, a local SMTP server in tests), with the action's idempotency
key in the Message-ID. A message to a lead answers back: its Reply-To names the action
(``connectors.mail.addresses``), and ``List-Unsubscribe`` gives the lead's signed unsubscribe page
(one-click, RFC 8058) and unsubscribe mailbox; ``connectors.mail.inbound`` reads what comes back. Its
failures are ``ConnectorError`` like any vendor's: an unreachable server
is retried; a refused recipient or sender is not; a conversation broken mid-way has an unknown
outcome, which the outbox never repeats (a message cannot be looked up by its marker).
"""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Sequence
from typing import ClassVar

from django.core.mail import EmailMessage

from connectors.base import Connector, ConnectorError, WriteResult
from connectors.registry import register

MESSAGE_ID_DOMAIN = "agentops"


def message_id(marker: str) -> str:
    """The Message-ID of the message an action with idempotency key ``marker`` sends."""
    return f"<{marker}@{MESSAGE_ID_DOMAIN}>"


def message_marker(value: str) -> str | None:
    """The marker in one of our Message-IDs (``<marker@agentops>``), else None."""
    value = value.strip()
    if value.startswith("<") and value.endswith(f"@{MESSAGE_ID_DOMAIN}>"):
        return value[1 : -len(MESSAGE_ID_DOMAIN) - 2] or None
    return None


@register
class MailConnector(Connector):
    """Sends ``send_email`` actions through Django's email backend."""

    vendor: ClassVar[str] = "email"
    configured: ClassVar[bool] = False  # Django's EMAIL_* settings say where mail goes

    def send_email(
        self,
        *,
        to: str,
        cc: Sequence[str],
        subject: str,
        body: str,
        marker: str,
        reply_to: str = "",
        unsubscribe_url: str = "",
        unsubscribe_mailto: str = "",
    ) -> WriteResult:
        """Send one message with ``marker`` in its Message-ID; ``reply_to`` where replies go, and
        ``unsubscribe_url`` (https, answering RFC 8058's one-click POST) and ``unsubscribe_mailto``
        for ``List-Unsubscribe``."""
        headers = {"Message-ID": message_id(marker)}
        links = [f"<{unsubscribe_url}>"] if unsubscribe_url else []
        links += [f"<mailto:{unsubscribe_mailto}?subject=unsubscribe>"] if unsubscribe_mailto else []
        if links:
            headers["List-Unsubscribe"] = ", ".join(links)
        if unsubscribe_url:
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message = EmailMessage(
            subject=subject,
            body=body,
            to=[to],
            cc=list(cc),
            reply_to=[reply_to] if reply_to else None,
            headers=headers,
        )
        try:
            message.send(fail_silently=False)
        except (smtplib.SMTPConnectError, ConnectionRefusedError, socket.gaierror) as exc:
            raise ConnectorError(
                f"mail server unreachable: {exc}", retryable=True, code="unreachable"
            ) from exc
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise ConnectorError(f"mail refused: {exc}", retryable=False, code="invalid") from exc
        except (OSError, smtplib.SMTPException) as exc:
            # Mid-conversation: the message may be on its way. It cannot be checked, so never resent.
            raise ConnectorError(f"mail outcome unknown: {exc}", retryable=True, code="connection") from exc
        return WriteResult(vendor_id=marker, created=True, marker=marker)
