from functools import partial

from core.importing import FileImportCommand
from sales.choices import LeadProducer
from sales.importers import LEAD_FORMATS
from sales.services import lead_bulk_upsert


class Command(FileImportCommand):
    help = "Import leads from a file (idempotent: re-importing the same file changes nothing)."
    formats = LEAD_FORMATS
    # Run by staff on the server: a trusted producer (its changes to oversight fields are logged).
    service = staticmethod(partial(lead_bulk_upsert, producer=LeadProducer.IMPORT))
