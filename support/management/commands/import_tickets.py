from core.importing import FileImportCommand
from support.importers import TICKET_FORMATS
from support.services import ticket_bulk_upsert


class Command(FileImportCommand):
    help = "Import support tickets from a file (idempotent: re-importing changes nothing)."
    formats = TICKET_FORMATS
    service = staticmethod(ticket_bulk_upsert)
