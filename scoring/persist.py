"""Writing many lead scores at once: COPY on PostgreSQL, a prepared executemany on SQLite.

Scoring 100,000 leads produces 100,000 rows; going through model instances would cost more than
scoring them. Rows are plain tuples in ``COLUMNS`` order; the table's constraints still apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from scoring.models import LeadScore

COLUMNS = (
    "lead_id",
    "model_version_id",
    "role",
    "probability",
    "score",
    "tier",
    "reasons",
    "features_hash",
    "scored_at",
)


def score_row(
    *,
    lead_id: int,
    model_version_id: int,
    role: str,
    probability: float,
    score: int,
    tier: str,
    reasons_json: str,
    features_hash: str,
    scored_at: datetime,
) -> tuple[Any, ...]:
    return (
        lead_id,
        model_version_id,
        role,
        probability,
        score,
        tier,
        reasons_json,
        features_hash,
        scored_at,
    )


def write_lead_scores(rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert score rows in one transaction; return how many were written."""
    if not rows:
        return 0
    table = connection.ops.quote_name(LeadScore._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            # Every row of a scoring run shares its time: adapt each distinct value once.
            adapted: dict[Any, Any] = {}

            def adapt(value: Any) -> Any:
                if value not in adapted:
                    adapted[value] = connection.ops.adapt_datetimefield_value(value)
                return adapted[value]

            placeholders = ", ".join(["%s"] * len(COLUMNS))
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608 - names from the model
                [(*row[:-1], adapt(row[-1])) for row in rows],
            )
    return len(rows)
