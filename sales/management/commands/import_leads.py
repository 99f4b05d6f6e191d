from collections.abc import Sequence
from typing import Any

from agentops.importing import FileImportCommand
from agentops.upsert import BatchOutcome
from sales.importers import LEAD_FORMATS
from sales.services import lead_bulk_upsert


class Command(FileImportCommand):
    help = "Import leads from a file (idempotent: re-importing the same file changes nothing)."
    formats = LEAD_FORMATS

    def upsert(self, rows: Sequence[dict[str, Any]], *, actor: str) -> BatchOutcome:
        return lead_bulk_upsert(rows=rows, actor=actor, atomic=False)
