"""Delivery channels, each behind ``transports.base.Transport``; ``TRANSPORTS`` maps a channel to its class."""

from notifications.transports.base import Transport, TransportError
from notifications.transports.email import EmailTransport
from notifications.transports.slack import SlackTransport

TRANSPORTS: dict[str, type[Transport]] = {"email": EmailTransport, "slack": SlackTransport}

__all__ = ["TRANSPORTS", "EmailTransport", "SlackTransport", "Transport", "TransportError"]
