from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.api import serializers as s
from approvals.models import ProposedAction
from sales.models import Lead
from sales.services import BatchTooLarge, lead_bulk_upsert
from scoring.models import ModelVersion
from support.models import Ticket


def _filter(queryset: QuerySet, request: Request, fields: tuple[str, ...]) -> QuerySet:
    """Exact-match filters from the query string, only for the listed fields."""
    params = {f: request.query_params[f] for f in fields if request.query_params.get(f)}
    return queryset.filter(**params)


class CanWriteLeads(permissions.BasePermission):
    message = "Your account may not create or change leads (needs sales.add_lead and sales.change_lead)."

    def has_permission(self, request: Request, view: object) -> bool:
        return bool(request.user and request.user.has_perms(["sales.add_lead", "sales.change_lead"]))


@extend_schema(
    parameters=[
        OpenApiParameter("source", str, description="Filter by source system."),
        OpenApiParameter("status", str, description="Filter by lead status."),
        OpenApiParameter("external_id", str, description="Filter by external id."),
    ]
)
class LeadViewSet(viewsets.ReadOnlyModelViewSet):
    """Leads mirrored from CRMs and imports."""

    serializer_class = s.LeadSerializer

    def get_queryset(self) -> QuerySet[Lead]:
        queryset = Lead.objects.select_related("owner", "account").order_by("-updated_at", "-id")
        return _filter(queryset, self.request, ("source", "status", "external_id"))

    @extend_schema(
        request=s.BulkLeadRequestSerializer,
        responses={200: s.BulkLeadResponseSerializer, 400: s.BulkLeadErrorSerializer},
        description=(
            "Upsert up to 10,000 leads by (source, external_id) in one transaction. Absent fields "
            "keep their stored values; `attributes` is merged key by key (null removes a key). "
            "If any row is invalid, nothing is written and every bad row is listed."
        ),
    )
    @action(detail=False, methods=["post"], url_path="bulk", permission_classes=[CanWriteLeads])
    def bulk(self, request: Request) -> Response:
        rows = request.data.get("leads") if isinstance(request.data, dict) else None
        if not isinstance(rows, list):
            return Response(
                {"detail": "leads: must be a list of lead objects.", "rejected": 0, "errors": []},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            outcome = lead_bulk_upsert(
                rows=rows, actor=f"user:{request.user.get_username()}", max_rows=settings.LEAD_BULK_MAX_ROWS
            )
        except BatchTooLarge as exc:
            return Response({"detail": str(exc), "rejected": len(rows), "errors": []}, status=413)
        if not outcome.ok or outcome.result is None:
            return Response(
                {
                    "detail": f"{len({e.index for e in outcome.errors})} of {len(rows)} rows are invalid; nothing was written.",
                    "rejected": len({e.index for e in outcome.errors}),
                    "errors": [e.as_dict() for e in outcome.errors],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        result = outcome.result
        return Response(
            {
                **result.summary,
                "results": [
                    {"index": i, "id": pk, "status": st}
                    for i, (pk, st) in enumerate(zip(result.ids, result.statuses, strict=True))
                ],
            }
        )


@extend_schema(
    parameters=[
        OpenApiParameter("source", str),
        OpenApiParameter("status", str),
        OpenApiParameter("intent_label", str),
    ]
)
class TicketViewSet(viewsets.ReadOnlyModelViewSet):
    """Support tickets mirrored from helpdesks and imports."""

    serializer_class = s.TicketSerializer

    def get_queryset(self) -> QuerySet[Ticket]:
        queryset = Ticket.objects.order_by("-updated_at", "-id")
        return _filter(queryset, self.request, ("source", "status", "intent_label"))


@extend_schema(
    parameters=[
        OpenApiParameter("status", str),
        OpenApiParameter("domain", str),
        OpenApiParameter("kind", str),
        OpenApiParameter("risk_level", str),
    ]
)
class ProposedActionViewSet(viewsets.ReadOnlyModelViewSet):
    """Actions proposed by agents, with their status in the approval life cycle."""

    serializer_class = s.ProposedActionSerializer

    def get_queryset(self) -> QuerySet[ProposedAction]:
        queryset = ProposedAction.objects.select_related("model_version").order_by("-created_at", "-id")
        return _filter(queryset, self.request, ("status", "domain", "kind", "risk_level"))


@extend_schema(parameters=[OpenApiParameter("kind", str), OpenApiParameter("status", str)])
class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """The model registry (artifacts are not exposed)."""

    serializer_class = s.ModelVersionSerializer

    def get_queryset(self) -> QuerySet[ModelVersion]:
        queryset = ModelVersion.objects.defer("artifact").order_by("kind", "-version")
        return _filter(queryset, self.request, ("kind", "status"))
