"""The one interface every delivery channel implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from notifications.messages import Message


class TransportError(Exception):
    """Delivery failed. ``retryable`` says whether the same message may succeed later
    (a timeout, a 5xx, a busy mail server) or never will (a refused address, a bad URL)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        self.retryable = retryable
        super().__init__(message)


class Transport(ABC):
    """Sends a rendered ``Message``. Subclasses take their configuration (a webhook URL, …) in
    ``__init__`` and implement ``send``, raising ``TransportError`` and nothing else on failure."""

    def __init__(self, target: str = "") -> None:
        self.target = target

    @abstractmethod
    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise ``TransportError``."""
