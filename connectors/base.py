"""The one small base class every vendor connector implements, and the plain data it speaks.

Connectors never import models: they take and return the frozen dataclasses below, so the
execution, sync and webhook layers can be tested without a vendor and a vendor without the ORM.
A vendor lives in its own folder (``connectors/hubspot/`` …) and registers its class with
``connectors.registry.register``; nothing outside the registry names a vendor.

Every write takes our idempotency key as ``marker``. A vendor stores it where it can be found
again (the external id of an upsert, or a property, tag or hidden field of what it creates), so a
retry after an unknown outcome calls ``find_by_marker`` first and never creates a second record.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


class ConnectorError(Exception):
    """A call to a system of record failed.

    ``retryable`` says whether the same call may succeed later (timeouts, 5xx, 429); ``status``
    is the HTTP status when there was one; ``retry_after`` the vendor's own hint, in seconds;
    ``code`` a short machine-readable reason (``timeout``, ``rate_limited``, ``not_found``,
    ``invalid``, ``unauthorised``, ``server_error``, ``connection``, ``unsupported``).
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        code: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.code = code
        self.retry_after = retry_after


class UnsupportedOperation(ConnectorError):
    """The vendor has no such operation (a helpdesk has no leads, a CRM no public replies)."""

    def __init__(self, vendor: str, operation: str) -> None:
        super().__init__(f"{vendor} does not support {operation}", retryable=False, code="unsupported")


@dataclass(frozen=True)
class ConnectionConfig:
    """Where and how to reach one vendor account; built from a configured connection.

    ``base_url`` may point anywhere (the sandbox on 127.0.0.1 in tests and the demo).
    ``credentials`` holds the decrypted secrets the vendor's client needs (token, username …).
    """

    vendor: str
    base_url: str
    # Kept out of repr so a logged config never shows a secret.
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout_seconds: float = 10.0
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """One record as the vendor holds it: ``kind`` is ours (lead, contact, account, ticket …)."""

    kind: str
    vendor_id: str
    fields: Mapping[str, Any]
    modified_at: datetime | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class WriteResult:
    """What a write did: the vendor's id of the record and whether this call created it."""

    vendor_id: str
    created: bool
    marker: str = ""


@dataclass(frozen=True)
class Page:
    """One page of an incremental read, and the cursor to pass for the next (None: caught up)."""

    records: Sequence[Record]
    next_cursor: str | None


class Connector(abc.ABC):
    """A vendor's operations. Subclasses set ``vendor`` and implement what the vendor supports;
    the rest raise ``UnsupportedOperation``. Every method may raise ``ConnectorError``.
    """

    vendor: ClassVar[str]
    #: Our record kinds this vendor holds, e.g. ``("lead", "contact", "account")``.
    kinds: ClassVar[tuple[str, ...]] = ()
    #: Whether an admin configures it as a ``Connection`` (a vendor account); False for AgentOps's own mail.
    configured: ClassVar[bool] = True

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config

    def _unsupported(self, operation: str) -> UnsupportedOperation:
        return UnsupportedOperation(self.vendor, operation)

    # Reads -------------------------------------------------------------------------------------
    def read(self, kind: str, vendor_id: str) -> Record:
        raise self._unsupported(f"read {kind}")

    def changed_since(self, kind: str, *, since: datetime | None, cursor: str | None = None) -> Page:
        """Records of ``kind`` modified after ``since`` (incremental sync), oldest first."""
        raise self._unsupported(f"incremental read of {kind}")

    def find_by_marker(self, kind: str, marker: str) -> Record | None:
        """The record an earlier write tagged with ``marker``, if that write took effect."""
        raise self._unsupported(f"find {kind} by marker")

    # Writes ------------------------------------------------------------------------------------
    def upsert(
        self, kind: str, *, id_property: str, records: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """Create or update by an external id held in ``id_property``; repeatable by nature."""
        raise self._unsupported(f"upsert {kind}")

    def assign_owner(self, kind: str, vendor_id: str, *, owner_id: str, marker: str) -> WriteResult:
        raise self._unsupported(f"assign owner of {kind}")

    def create_task(
        self, *, about_kind: str, about_id: str, subject: str, body: str, marker: str
    ) -> WriteResult:
        raise self._unsupported("create task")

    def enrol_in_sequence(
        self, *, contact_id: str, sequence_id: str, sender_id: str, marker: str
    ) -> WriteResult:
        raise self._unsupported("enrol in sequence")

    def post_public_reply(self, *, ticket_id: str, body: str, marker: str) -> WriteResult:
        raise self._unsupported("post public reply")

    def add_internal_note(self, *, ticket_id: str, body: str, marker: str) -> WriteResult:
        raise self._unsupported("add internal note")

    def set_ticket_status(
        self, *, ticket_id: str, status: str | None = None, group_id: str | None = None, marker: str
    ) -> WriteResult:
        raise self._unsupported("set ticket status")

    def hand_off(
        self,
        *,
        ticket_id: str,
        group_id: str | None,
        note: str,
        priority: str | None = None,
        tags: Sequence[str] = (),
        assignee_id: str | None = None,
        marker: str,
    ) -> WriteResult:
        """Give the ticket to people: assign it to ``group_id`` (a helpdesk group or team; None
        keeps its group) and ``assignee_id`` (an agent; None keeps its assignee) with ``priority``
        and ``tags`` where the helpdesk has them, and add
        ``note``, which only agents see, carrying ``marker`` (checkable by ``find_by_marker``)."""
        raise self._unsupported("hand off")

    def send_email(self, *, to: str, cc: Sequence[str], subject: str, body: str, marker: str) -> WriteResult:
        """Send one message; ``marker`` identifies it (a mail server cannot be asked whether an
        earlier attempt arrived, so a sender never repeats one whose outcome is unknown)."""
        raise self._unsupported("send email")

    def send_sms(self, *, to: str, body: str, marker: str, status_callback: str = "") -> WriteResult:
        """Send one text message to ``to`` (E.164); the provider reports its delivery to
        ``status_callback``. A provider cannot be asked whether an earlier attempt went out (its
        messages carry no marker), so the outbox never repeats one whose outcome is unknown."""
        raise self._unsupported("send sms")


def sends_sms(vendor_class: type[Connector]) -> bool:
    """Whether connectors of ``vendor_class`` implement ``send_sms``."""
    return vendor_class.send_sms is not Connector.send_sms
