from __future__ import annotations

from itertools import islice
from pathlib import Path

import pytest

from sales.choices import LeadProducer
from sales.importers.bank_marketing import parse_bank_marketing
from sales.services import lead_bulk_upsert

BANK = Path(__file__).resolve().parents[2] / "fixtures" / "bank-marketing" / "bank-additional-train.csv"


def bank_rows(start: int, stop: int, *, step: int = 1, with_outcome: bool = True) -> list[dict]:
    """Rows ``start``..``stop`` (1-based, in file order) of the real Bank Marketing file as lead rows."""
    rows = []
    for _, row in islice(parse_bank_marketing(BANK), start - 1, stop, step):
        if not with_outcome:
            row = {k: v for k, v in row.items() if k not in ("outcome", "outcome_at")}
            row["status"] = "new"
            row["external_id"] = row["external_id"].replace("bm-", "bm-new-")
        rows.append(row)
    return rows


def load(rows: list[dict]) -> None:
    outcome = lead_bulk_upsert(rows=rows, actor="test", producer=LeadProducer.IMPORT, atomic=False)
    assert not outcome.errors, outcome.errors[:3]


@pytest.fixture
def no_rescore(settings):
    settings.SCORING_AUTO_RESCORE = False
