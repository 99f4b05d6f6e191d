from django.contrib import admin

from audit.models import AuditSeal, DecisionLogEntry
from core.admin_readonly import LogAdmin


@admin.register(DecisionLogEntry)
class DecisionLogEntryAdmin(LogAdmin):
    """Searchable and read-only: the log is append-only, so nothing here can change it."""

    list_display = [
        "timestamp",
        "event_type",
        "actor",
        "subject_type",
        "subject_id",
        "model_version",
        "environment",
        "seal_sequence",
    ]
    list_filter = ["event_type", "environment", "subject_type"]
    list_select_related = ["seal"]
    search_fields = ["=event_id", "=correlation_id", "actor", "=subject_id"]
    date_hierarchy = "timestamp"
    show_full_result_count = False

    @admin.display(description="seal")
    def seal_sequence(self, obj: DecisionLogEntry) -> str:
        seal = getattr(obj, "seal", None)
        return str(seal.sequence) if seal is not None else "pending"


@admin.register(AuditSeal)
class AuditSealAdmin(LogAdmin):
    """The hash chain, read-only: find an entry's seal by sequence, entry id or hash."""

    list_display = ["sequence", "entry", "sealed_at", "entry_hash", "chain_hash"]
    list_select_related = ["entry"]
    search_fields = ["=sequence", "=entry__id", "=entry_hash", "=chain_hash"]
    date_hierarchy = "sealed_at"
    show_full_result_count = False
