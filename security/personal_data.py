"""Rewriting the encrypted columns of a table in place: encrypt, decrypt, or rotate to the first key.

Works on raw rows (``connection.cursor()``), in primary-key batches, so the data migrations (which
must not depend on today's models) and ``manage.py reencrypt_personal_data`` share one code path,
and a rewrite never touches ``updated_at`` or anything else. Blind indexes are recomputed from the
clear value at the same time, which is also how a new ``AGENTOPS_BLIND_INDEX_KEY`` is applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.db import transaction

from security import crypto
from security.fields import (
    PREFIX,
    BlindIndexField,
    EncryptedJSONField,
    EncryptedTextField,
    PersonalKeysJSONField,
)
from security.masking import PERSONAL_KEYS

Mode = Literal["encrypt", "decrypt", "rotate"]


@dataclass(frozen=True)
class EncryptedTable:
    """A table's encrypted columns, its blind indexes (``(index column, source column)``) and its
    JSON columns with encrypted personal keys inside (``PersonalKeysJSONField``)."""

    table: str
    columns: tuple[str, ...] = ()
    indexes: tuple[tuple[str, str], ...] = ()
    json_columns: tuple[str, ...] = ()
    pk: str = "id"


def encrypted_tables() -> list[EncryptedTable]:
    """Every table of an installed model with an encrypted field, from the model definitions."""
    from django.apps import apps

    tables = []
    for model in apps.get_models():
        fields = model._meta.concrete_fields
        columns = tuple(f.column for f in fields if isinstance(f, EncryptedTextField | EncryptedJSONField))
        json_columns = tuple(f.column for f in fields if isinstance(f, PersonalKeysJSONField))
        if not columns and not json_columns:
            continue
        by_name = {f.name: f for f in fields}
        indexes = tuple(
            (f.column, by_name[f.source].column) for f in fields if isinstance(f, BlindIndexField)
        )
        assert model._meta.pk is not None
        tables.append(
            EncryptedTable(model._meta.db_table, columns, indexes, json_columns, model._meta.pk.column)
        )
    return sorted(tables, key=lambda t: t.table)


def _clear(stored: str | None) -> str | None:
    if stored is None or not stored.startswith(PREFIX):
        return stored
    return crypto.decrypt(stored[len(PREFIX) :])


def _rewritten(stored: str | None, mode: Mode) -> str | None:
    if stored is None or stored == "":
        return stored
    encrypted = stored.startswith(PREFIX)
    if mode == "decrypt":
        return _clear(stored)
    if not encrypted:
        return PREFIX + crypto.encrypt(stored)
    if mode == "rotate" and not crypto.encrypted_with_first_key(stored[len(PREFIX) :]):
        return PREFIX + crypto.reencrypt(stored[len(PREFIX) :])
    return stored


def _rewritten_item(item: Any, mode: Mode) -> Any:
    """A personal key's value inside a JSON column, per ``mode``."""
    if isinstance(item, str) and item.startswith(PREFIX):
        token = item[len(PREFIX) :]
        if mode == "decrypt":
            return json.loads(crypto.decrypt(token))
        if mode == "rotate" and not crypto.encrypted_with_first_key(token):
            return PREFIX + crypto.reencrypt(token)
        return item
    if mode == "decrypt" or item in (None, ""):
        return item
    return PREFIX + crypto.encrypt(json.dumps(item))


def _walk(value: Any, mode: Mode) -> Any:
    if isinstance(value, dict):
        return {
            key: _rewritten_item(item, mode) if str(key).lower() in PERSONAL_KEYS else _walk(item, mode)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_walk(item, mode) for item in value]
    return value


def _rewritten_json(stored: Any, mode: Mode) -> Any:
    if stored is None:
        return None
    value = json.loads(stored) if isinstance(stored, str) else stored
    new = _walk(value, mode)
    return stored if new == value else json.dumps(new)


def table_rewrite(
    *,
    connection: Any,
    spec: EncryptedTable,
    mode: Mode,
    batch_size: int = 500,
    progress: Callable[[str, int, int], None] | None = None,
) -> int:
    """Rewrite ``spec``'s encrypted columns of every row per ``mode``; how many rows changed.

    ``encrypt`` encrypts clear values (a data migration), ``decrypt`` undoes it (its reverse),
    ``rotate`` re-encrypts every value not under the first key (and encrypts any clear one).
    Blind indexes are recomputed except when decrypting. Safe to run twice: rows already as
    wanted are not written. ``progress(table, rows seen, rows changed)`` is called per batch.
    """
    quote = connection.ops.quote_name
    sources = [source for _, source in spec.indexes]
    read_columns: list[str] = list(dict.fromkeys([*spec.columns, *spec.json_columns, *sources]))
    index_columns = [index for index, _ in spec.indexes] if mode != "decrypt" else []
    select = (
        f"SELECT {quote(spec.pk)}, {', '.join(quote(c) for c in read_columns)}"  # noqa: S608 - names from models
        + (f", {', '.join(quote(c) for c in index_columns)}" if index_columns else "")
        + f" FROM {quote(spec.table)} WHERE {quote(spec.pk)} > %s ORDER BY {quote(spec.pk)}"
        + f" LIMIT {int(batch_size)}"
    )
    written = [*spec.columns, *spec.json_columns, *index_columns]
    update = (
        f"UPDATE {quote(spec.table)} SET {', '.join(f'{quote(c)} = %s' for c in written)}"  # noqa: S608
        f" WHERE {quote(spec.pk)} = %s"
    )
    last: Any = 0  # ids are positive
    seen = changed = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(select, [last])
            rows: Sequence[Sequence[Any]] = cursor.fetchall()
        if not rows:
            break
        updates = []
        for row in rows:
            pk, values = row[0], dict(zip(read_columns, row[1 : 1 + len(read_columns)], strict=True))
            old_indexes = list(row[1 + len(read_columns) :])
            new = [_rewritten(values[c], mode) for c in spec.columns]
            new += [_rewritten_json(values[c], mode) for c in spec.json_columns]
            new_indexes = [crypto.blind_index(_clear(values[source]) or "") for _, source in spec.indexes]
            if mode == "decrypt":
                new_indexes = []
            if new != [values[c] for c in [*spec.columns, *spec.json_columns]] or new_indexes != old_indexes:
                updates.append([*new, *new_indexes, pk])
        if updates:
            # A batch at a time: a crash leaves rows under the old key or the new one (both readable).
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.executemany(update, updates)
        seen += len(rows)
        changed += len(updates)
        last = rows[-1][0]
        if progress is not None:
            progress(spec.table, seen, changed)
    return changed


def personal_data_reencrypt(
    *, batch_size: int = 500, progress: Callable[[str, int, int], None] | None = None
) -> dict[str, int]:
    """Re-encrypt every encrypted column of every table under the first configured key, and refresh
    the blind indexes; rows changed per table. Run after putting a new key first in
    ``AGENTOPS_ENCRYPTION_KEYS``; once every count is 0 the old keys can be dropped."""
    from django.db import connection

    crypto.configured_keys()  # refuse before touching anything when no key is configured
    return {
        spec.table: table_rewrite(
            connection=connection, spec=spec, mode="rotate", batch_size=batch_size, progress=progress
        )
        for spec in encrypted_tables()
    }
