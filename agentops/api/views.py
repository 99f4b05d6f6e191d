from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.api import serializers as s
from approvals.models import ProposedAction
from approvals.services import DecisionError, action_approve, action_reject
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


class CanDecideActions(permissions.BasePermission):
    message = "Your account may not decide actions (needs approvals.change_proposedaction)."

    def has_permission(self, request: Request, view: object) -> bool:
        return bool(request.user and request.user.has_perm("approvals.change_proposedaction"))


# How each refusal of the decision services answers over HTTP.
DECISION_ERROR_STATUS = {
    "already_decided": status.HTTP_409_CONFLICT,
    "self_approval": status.HTTP_403_FORBIDDEN,
    "duplicate_approval": status.HTTP_403_FORBIDDEN,
    "invalid_edit": status.HTTP_400_BAD_REQUEST,
    "reason_required": status.HTTP_400_BAD_REQUEST,
}


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

    def _decide(self, request: Request, decide: Callable[[], ProposedAction]) -> Response:
        try:
            action = decide()
        except ProposedAction.DoesNotExist:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        except DecisionError as exc:
            return Response(
                {"code": exc.code, "detail": str(exc)},
                status=DECISION_ERROR_STATUS.get(exc.code, status.HTTP_400_BAD_REQUEST),
            )
        action = self.get_queryset().get(pk=action.pk)
        return Response(self.get_serializer(action).data)

    @extend_schema(
        request=s.ApproveRequestSerializer,
        responses={200: s.ProposedActionSerializer},
        description="Approve, optionally with edits to the payload's fields. 409 if already decided.",
    )
    @action(detail=True, methods=["post"], permission_classes=[CanDecideActions])
    def approve(self, request: Request, pk: str) -> Response:
        body = s.ApproveRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._decide(
            request,
            lambda: action_approve(
                action_id=int(pk),
                user=request.user,
                edits=body.validated_data.get("edits"),
                comment=body.validated_data.get("comment", ""),
            ),
        )

    @extend_schema(
        request=s.RejectRequestSerializer,
        responses={200: s.ProposedActionSerializer},
        description="Reject with a reason code (required). 409 if already decided.",
    )
    @action(detail=True, methods=["post"], permission_classes=[CanDecideActions])
    def reject(self, request: Request, pk: str) -> Response:
        body = s.RejectRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._decide(
            request,
            lambda: action_reject(
                action_id=int(pk),
                user=request.user,
                reason_code=body.validated_data["reason_code"],
                comment=body.validated_data.get("comment", ""),
            ),
        )


@extend_schema(parameters=[OpenApiParameter("kind", str), OpenApiParameter("status", str)])
class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """The model registry (artifacts are not exposed)."""

    serializer_class = s.ModelVersionSerializer

    def get_queryset(self) -> QuerySet[ModelVersion]:
        queryset = ModelVersion.objects.defer("artifact").order_by("kind", "-version")
        return _filter(queryset, self.request, ("kind", "status"))
