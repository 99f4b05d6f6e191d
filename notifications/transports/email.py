"""Email through Django's configured email backend (EMAIL_URL): plain text plus a simple HTML part."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives

from notifications.messages import Message
from notifications.transports.base import Transport, TransportError


class EmailTransport(Transport):
    def send(self, message: Message) -> None:
        if not message.to:
            raise TransportError("email: no recipient address", retryable=False)
        mail = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.to],
        )
        if message.html:
            mail.attach_alternative(message.html, "text/html")
        try:
            mail.send(fail_silently=False)
        except BadHeaderError as exc:
            raise TransportError(f"email: {exc}", retryable=False) from exc
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise TransportError(f"email: refused: {exc}", retryable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Connection refused, timeouts, a busy server: worth another try.
            raise TransportError(f"email: {exc.__class__.__name__}: {exc}", retryable=True) from exc
