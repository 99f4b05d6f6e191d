"""Writes to connections (the admin and commands stay thin and call these)."""

from __future__ import annotations

from django.db import transaction

from connectors import crypto
from connectors.models import Connection


def connections_reencrypt() -> int:
    """Re-encrypt every connection's credentials under the first configured key; how many changed.

    Run after putting a new key first in AGENTOPS_ENCRYPTION_KEYS; once it reports 0, the old keys
    can be removed. Safe to run twice.
    """
    changed = 0
    ids = Connection.objects.exclude(credentials_encrypted="").values_list("pk", flat=True)
    for pk in ids:
        with transaction.atomic():
            connection = Connection.objects.select_for_update().get(pk=pk)
            if crypto.encrypted_with_first_key(connection.credentials_encrypted):
                continue
            connection.credentials_encrypted = crypto.reencrypt(connection.credentials_encrypted)
            # A plain update: the secret is not in the history, and nothing else changed.
            Connection.objects.filter(pk=pk).update(credentials_encrypted=connection.credentials_encrypted)
            changed += 1
    return changed
