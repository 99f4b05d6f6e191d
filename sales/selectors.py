from __future__ import annotations

from django.db.models import Count, OuterRef, QuerySet, Subquery

from sales.models import Lead


def leads_for_list(*, status: str = "", source: str = "", search: str = "") -> QuerySet[Lead]:
    """Leads for the list page, newest first, with what the rows show joined in (no per-row queries)."""
    queryset = with_acting_score(Lead.objects.select_related("owner", "account")).order_by(
        "-updated_at", "-id"
    )
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


def with_acting_score(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """Annotate each lead with its acting score and tier (newest champion/canary score), in the same query."""
    from scoring.models import LeadScore

    latest = LeadScore.objects.filter(lead=OuterRef("pk"), role__in=["champion", "canary"]).order_by(
        "-scored_at", "-id"
    )
    return leads.annotate(
        acting_score=Subquery(latest.values("score")[:1]), acting_tier=Subquery(latest.values("tier")[:1])
    )
