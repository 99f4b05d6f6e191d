from __future__ import annotations

from django.db.models import Count, QuerySet

from approvals.models import ProposedAction
from approvals.states import OPEN_STATUSES


def actions_for_list(*, status: str = "", domain: str = "") -> QuerySet[ProposedAction]:
    """Proposed actions for the list page with their targets joined in (no per-row queries)."""
    queryset = ProposedAction.objects.select_related("lead", "ticket", "model_version").defer(
        "model_version__artifact"
    )
    if status:
        queryset = queryset.filter(status=status)
    if domain:
        queryset = queryset.filter(domain=domain)
    return queryset.order_by("sla_due_at", "-created_at", "-id")


def actions_open_count_by_domain() -> dict[str, int]:
    return dict(
        ProposedAction.objects.filter(status__in=OPEN_STATUSES)
        .order_by()
        .values_list("domain")
        .annotate(n=Count("id"))
    )
