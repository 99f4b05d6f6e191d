from __future__ import annotations

from django.db.models import Count, QuerySet

from sales.models import Lead


def leads_for_list(*, status: str = "", source: str = "", search: str = "") -> QuerySet[Lead]:
    """Leads for the list page, newest first, with what the rows show joined in (no per-row queries)."""
    queryset = Lead.objects.select_related("owner", "account").order_by("-updated_at", "-id")
    if status:
        queryset = queryset.filter(status=status)
    if source:
        queryset = queryset.filter(source=source)
    if search:
        queryset = (
            queryset.filter(company_name__icontains=search)
            | queryset.filter(last_name__icontains=search)
            | queryset.filter(external_id=search)
        )
    return queryset


def lead_counts_by_status() -> dict[str, int]:
    return dict(Lead.objects.order_by().values_list("status").annotate(n=Count("id")))
