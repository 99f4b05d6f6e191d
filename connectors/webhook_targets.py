"""Which connection a webhook delivery is for, and its decrypted webhook secret, kept per process.

Every delivery needs both: a query for the connection and a Fernet decryption of its credentials,
about a quarter of what acknowledging a delivery costs. A vendor sends many deliveries a second to
the same few connections, so each process keeps what it found for ``TTL_SECONDS``.

How fresh it is: saving or deleting a connection (the admin, ``set_credentials`` then ``save``,
deactivating it) empties this process's copy at once (``post_save``/``post_delete``, wired in
``connectors.apps``), so a rotated secret or a disabled or deleted connection takes effect here
immediately. Other processes (the other web workers) keep their copy until it is ``TTL_SECONDS``
old: for up to that long after a rotation they still accept the old secret (and refuse the new
one), and a disabled or deleted connection's deliveries are still stored there (and applied by
the task workers, which read the connection afresh). A plain ``queryset.update()`` on connections
sends no signal and is seen within the TTL everywhere; ``connections_reencrypt`` is one, and it
changes no secret. Unknown connections and unreadable credentials are never kept.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from connectors.models import Connection

TTL_SECONDS = 30.0
# Names and ids come from the URL ("7", "07", "007" … all name connection 7): past this many
# entries the copy is emptied, so made-up spellings cannot grow it without end.
MAX_ENTRIES = 1_000


@dataclass(frozen=True)
class _Entry:
    expires: float
    connection: Connection
    secrets: tuple[str, ...]


#: The credentials holding a webhook signing secret: the connection's own, then one a vendor gives
#: a second kind of webhook (Zendesk signs a webhook connected to triggers, such as the satisfaction
#: rating's, with a secret of its own: ``trigger_webhook_secret``).
SECRET_KEYS = ("webhook_secret", "trigger_webhook_secret")


_entries: dict[tuple[str, str], _Entry] = {}


def _connection(vendor: str, name_or_id: str) -> Connection | None:
    match = Q(name=name_or_id) | (Q(pk=int(name_or_id)) if name_or_id.isdigit() else Q())
    return Connection.objects.filter(match, vendor=vendor, is_active=True).first()


def webhook_target(*, vendor: str, name_or_id: str) -> tuple[Connection, tuple[str, ...]] | None:
    """The active ``vendor`` connection named ``name_or_id`` (its name, or its id) and its webhook
    secrets (``SECRET_KEYS`` that are set, in that order; empty when none is configured); ``None``
    when there is no such active connection.

    The connection is a copy for this request, as it was up to ``TTL_SECONDS`` ago (see the module
    docstring). Raises ``connectors.crypto.DecryptionError`` when no configured key can read the
    credentials.
    """
    key = (vendor, name_or_id)
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is None or entry.expires <= now:
        connection = _connection(vendor, name_or_id)
        if connection is None:
            _entries.pop(key, None)
            return None
        credentials = connection.credentials
        secrets = tuple(credentials[k] for k in SECRET_KEYS if credentials.get(k))
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        entry = _entries[key] = _Entry(expires=now + TTL_SECONDS, connection=connection, secrets=secrets)
    return copy.copy(entry.connection), entry.secrets


def webhook_targets_forget(**_: Any) -> None:
    """Forget every kept connection in this process (a signal receiver: a connection changed)."""
    _entries.clear()
