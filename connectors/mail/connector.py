"""AgentOps's own mail sender, a connector like the vendors' (``send_email`` only).

A ``send_email`` action is sent by AgentOps, whatever the CRM: no CRM sends a sales email for us, and
a CRM "email engagement" only logs one. This connector sends through Django's email backend
(``EMAIL_BACKEND``: SMTP in production, a local SMTP server in tests), with the action's idempotency
key in the Message-ID. Its failures are ``ConnectorError`` like any vendor's: an unreachable server
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


@register
class MailConnector(Connector):
    """Sends ``send_email`` actions through Django's email backend."""

    vendor: ClassVar[str] = "email"
    configured: ClassVar[bool] = False  # Django's EMAIL_* settings say where mail goes

    def send_email(self, *, to: str, cc: Sequence[str], subject: str, body: str, marker: str) -> WriteResult:
        message = EmailMessage(
            subject=subject, body=body, to=[to], cc=list(cc), headers={"Message-ID": f"<{marker}@agentops>"}
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
