from agentops.importing import FileImportCommand
from sales.importers import LEAD_FORMATS
from sales.services import lead_bulk_upsert


class Command(FileImportCommand):
    help = "Import leads from a file (idempotent: re-importing the same file changes nothing)."
    formats = LEAD_FORMATS
    service = staticmethod(lead_bulk_upsert)
