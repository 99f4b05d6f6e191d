from collections.abc import Sequence
from typing import Any

from agentops.importing import FileImportCommand
from agentops.upsert import BatchOutcome
from support.importers import TICKET_FORMATS
from support.services import ticket_bulk_upsert


class Command(FileImportCommand):
    help = "Import support tickets from a file (idempotent: re-importing changes nothing)."
    formats = TICKET_FORMATS

    def upsert(self, rows: Sequence[dict[str, Any]], *, actor: str) -> BatchOutcome:
        return ticket_bulk_upsert(rows=rows, actor=actor, atomic=False)
