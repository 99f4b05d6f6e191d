from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, F, Q, QuerySet, Value
from django.db.models.functions import Abs, Coalesce, Greatest

from approvals.choices import ActionStatus
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


def actions_queue(*, domain: str = "", user: Any = None) -> QuerySet[ProposedAction]:
    """Items waiting for a person, most urgent first: SLA due time, then impact, then uncertainty.

    Impact is the larger of the lead's deal value and its account's value; uncertainty is how close
    the agent's confidence is to a coin flip. Items without an SLA come after those with one. With
    ``user``, only items routed to a group the user is in, or to no group, are listed.
    """
    impact = Greatest(
        Coalesce("lead__deal_value", Value(Decimal(0))),
        Coalesce("lead__account__account_value", Value(Decimal(0))),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    uncertainty = Abs(F("confidence") - Value(0.5))
    queryset = (
        ProposedAction.objects.filter(status=ActionStatus.PENDING_APPROVAL)
        .select_related("lead__account", "ticket", "model_version", "approver_group")
        .defer("model_version__artifact", "model_version__reference", "model_version__validation_lead_ids")
        .annotate(impact=impact, certainty=uncertainty)
    )
    if domain:
        queryset = queryset.filter(domain=domain)
    if user is not None:
        queryset = queryset.filter(Q(approver_group__isnull=True) | Q(approver_group__in=user.groups.all()))
    return queryset.order_by(F("sla_due_at").asc(nulls_last=True), "-impact", "certainty", "created_at", "id")
