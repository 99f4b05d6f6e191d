"""Inserting and updating many model instances in one statement.

``bulk_create`` splits its INSERTs so that no statement has more than 999 parameters on SQLite
(28 rows of a 35-column table), and ``bulk_update`` builds a CASE per field, so the number of
queries grows with the batch. Here:

- on PostgreSQL one multi-row statement carries every row (``INSERT … VALUES (…), (…)`` and
  ``UPDATE … FROM (VALUES …)``; chunked only past the protocol's 65,535 parameters): one round trip
  and one plan, however many rows (``executemany`` would send a statement per row);
- on SQLite, in process, one prepared statement is executed for all rows (``executemany``).

Field defaults and ``auto_now`` values are applied as ``save`` would; no ids are returned, so
callers read back what they need by a natural key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models, transaction

#: PostgreSQL's limit on the parameters of one statement.
MAX_PARAMETERS = 65_535


def _chunks(rows: list[list[Any]], width: int) -> list[list[list[Any]]]:
    size = max(1, MAX_PARAMETERS // max(1, width))
    return [rows[n : n + size] for n in range(0, len(rows), size)]


def insert_many(model: type[models.Model], objs: Sequence[models.Model]) -> int:
    """Insert ``objs`` (unsaved instances of ``model``) in one statement; return how many."""
    if not objs:
        return 0
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    rows = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields] for obj in objs]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608 - names from the model
                rows,
            )
            return len(objs)
        for chunk in _chunks(rows, len(fields)):
            values = ", ".join([f"({placeholders})"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {values}",  # noqa: S608 - names from the model
                [value for row in chunk for value in row],
            )
    return len(objs)


def update_many(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of saved instances in one prepared UPDATE by primary key (``executemany``).

    ``bulk_update`` builds one CASE expression per field and, on SQLite, a statement per 90 rows or
    so; this is one statement whatever the number of rows. ``auto_now`` fields listed are refreshed.
    """
    if not objs:
        return 0
    meta = model._meta
    concrete = [f for f in meta.concrete_fields if f.name in fields or f.attname in fields]
    if len(concrete) != len(set(fields)):
        raise ValueError(f"{meta.label}: update_many needs concrete field names, got {list(fields)}")
    table = connection.ops.quote_name(meta.db_table)
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in concrete)
    assert meta.pk is not None
    pk_column = connection.ops.quote_name(meta.pk.column)
    rows = [
        [*(f.get_db_prep_save(f.pre_save(obj, False), connection) for f in concrete), obj.pk] for obj in objs
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(
                f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s",  # noqa: S608 - names from the model
                rows,
            )
            return len(objs)
        # Every value cast to its column's type: VALUES alone would take untyped parameters as text.
        columns = [*(f.column for f in concrete), meta.pk.column]
        types = [*(f.db_type(connection) for f in concrete), meta.pk.db_type(connection)]
        row_sql = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
        names = ", ".join(connection.ops.quote_name(c) for c in columns)
        sets = ", ".join(
            f"{connection.ops.quote_name(f.column)} = v.{connection.ops.quote_name(f.column)}"
            for f in concrete
        )
        for chunk in _chunks(rows, len(columns)):
            values = ", ".join([row_sql] * len(chunk))
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM (VALUES {values}) AS v ({names}) "  # noqa: S608 - names from the model
                f"WHERE {table}.{pk_column} = v.{pk_column}",
                [value for row in chunk for value in row],
            )
    return len(objs)
