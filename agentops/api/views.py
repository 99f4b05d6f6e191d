from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.api import serializers as s
from approvals.changes import payload_diff_masked
from approvals.models import Decision, ProposedAction
from approvals.scoping import actions_decidable, actions_readable
from approvals.services import PayloadNotSeen, action_approve, action_reject, action_submit
from core.api.exceptions import app_error_response
from sales.models import Lead
from sales.scoping import leads_scoped
from sales.services import BatchTooLarge, lead_bulk_upsert
from scoring.models import ModelVersion
from security import signin
from security.api_scopes import ScopedViewSetMixin
from security.choices import Scope
from security.models import ApiKey
from security.scoping import scoped_object_or_404
from security.selectors import user_access, user_sees_personal_data, user_signed_in
from support.models import Ticket
from support.scoping import tickets_scoped


def _filter(queryset: QuerySet, request: Request, fields: tuple[str, ...]) -> QuerySet:
    """Exact-match filters from the query string, only for the listed fields."""
    params = {f: request.query_params[f] for f in fields if request.query_params.get(f)}
    return queryset.filter(**params)


class RoleReadsList(permissions.BasePermission):
    """A list answers 403 to a role that reads none of its kind (``security.roles``); one item is
    never refused here: out of scope, it is 404 (``scoped_object_or_404``)."""

    message = "Your role does not read these."

    def has_permission(self, request: Request, view: object) -> bool:
        if getattr(view, "action", None) != "list":
            return True
        access = user_access(user=request.user)
        kind = getattr(view, "scoped_kind", "")
        allowed = {"leads": access.leads, "tickets": access.tickets, "actions": bool(access.see_domains)}
        self.message = f"Your role does not read {kind}."
        return bool(allowed.get(kind, False))


class RoleScopedMixin:
    """One item through the scope: ``get_object`` answers 404 (recorded) outside it."""

    def get_object(self) -> Any:
        view: Any = self
        queryset = view.filter_queryset(view.get_queryset())
        obj = scoped_object_or_404(request=view.request, scoped=queryset, pk=view.kwargs["pk"])
        view.check_object_permissions(view.request, obj)
        return obj


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
class LeadViewSet(RoleScopedMixin, ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Leads mirrored from CRMs and imports (those in the caller's scope)."""

    required_scopes = {"bulk": (Scope.WRITE_LEADS,), "*": (Scope.READ_LEADS,)}
    scoped_kind = "leads"
    permission_classes = [permissions.IsAuthenticated, RoleReadsList]

    serializer_class = s.LeadSerializer

    def get_queryset(self) -> QuerySet[Lead]:
        queryset = Lead.objects.select_related("owner", "account").order_by("-updated_at", "-id")
        scoped = leads_scoped(user=self.request.user, queryset=queryset)
        return _filter(scoped, self.request, ("source", "status", "external_id"))

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
class TicketViewSet(RoleScopedMixin, ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Support tickets mirrored from helpdesks and imports (those in the caller's scope)."""

    required_scopes = {"*": (Scope.READ_TICKETS,)}
    scoped_kind = "tickets"
    permission_classes = [permissions.IsAuthenticated, RoleReadsList]

    serializer_class = s.TicketSerializer

    def get_queryset(self) -> QuerySet[Ticket]:
        queryset = tickets_scoped(
            user=self.request.user, queryset=Ticket.objects.order_by("-updated_at", "-id")
        )
        return _filter(queryset, self.request, ("source", "status", "intent_label"))


class CanDecideActions(permissions.BasePermission):
    """The same rule as the approval pages: a role that decides (``security.roles``); which items,
    is the scope's answer (404 outside it)."""

    message = "Your role may not decide actions (it is read-only or reaches no domain)."

    def has_permission(self, request: Request, view: object) -> bool:
        return user_access(user=request.user).decides_anything


# How each refusal of the decision services answers over HTTP.
class CanProposeActions(permissions.BasePermission):
    message = "Your account may not propose actions (needs approvals.add_proposedaction)."

    def has_permission(self, request: Request, view: object) -> bool:
        return bool(request.user and request.user.has_perm("approvals.add_proposedaction"))


def _first_error(errors: object, prefix: str = "") -> tuple[str, str]:
    """The first field and message of a DRF error structure, as ``("lead", "must be an id …")``."""
    if isinstance(errors, dict) and errors:
        key, value = next(iter(errors.items()))
        name = "" if key == "non_field_errors" else str(key)
        return _first_error(value, f"{prefix}.{name}" if prefix and name else prefix or name)
    if isinstance(errors, list) and errors:
        return _first_error(errors[0], prefix)
    return prefix, str(errors)


@extend_schema(
    parameters=[
        OpenApiParameter("status", str, description="e.g. pending_approval for the approval queue."),
        OpenApiParameter("domain", str),
        OpenApiParameter("kind", str),
        OpenApiParameter("risk_level", str),
        OpenApiParameter("matched_rule", str, description="The playbook rule that proposed it."),
        OpenApiParameter("proposed_by", str, description="e.g. api:<username> for one integration."),
    ]
)
class ProposedActionViewSet(RoleScopedMixin, ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Actions proposed by agents, with their status in the approval life cycle (those in the
    caller's scope; an action outside it is 404)."""

    lookup_value_regex = r"[0-9]+"
    required_scopes = {
        "list": (Scope.READ_ACTIONS, Scope.DECIDE_ACTIONS),
        # An agent polls what it proposed.
        "retrieve": (Scope.READ_ACTIONS, Scope.SUBMIT_ACTIONS, Scope.DECIDE_ACTIONS),
        "create": (Scope.SUBMIT_ACTIONS,),
        "approve": (Scope.DECIDE_ACTIONS,),
        "reject": (Scope.DECIDE_ACTIONS,),
    }

    serializer_class = s.ProposedActionSerializer
    scoped_kind = "actions"
    permission_classes = [permissions.IsAuthenticated, RoleReadsList]

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return s.ProposedActionSerializer if self.action == "list" else s.ProposedActionDetailSerializer

    def get_permissions(self) -> Sequence[Any]:
        chosen = super().get_permissions()
        return [*chosen, CanProposeActions()] if self.action == "create" else chosen

    def get_queryset(self) -> QuerySet[ProposedAction]:
        return actions_readable(user=self.request.user, key=self.request.auth, queryset=self._unscoped())

    def _unscoped(self) -> QuerySet[ProposedAction]:
        queryset = ProposedAction.objects.select_related("model_version").order_by("-created_at", "-id")
        if self.action == "list":
            return _filter(
                queryset,
                self.request,
                ("status", "domain", "kind", "risk_level", "matched_rule", "proposed_by"),
            )
        # One action (read, or answered after a submission or decision): with its decisions, and
        # never hidden by list filters left in the query string.
        return queryset.prefetch_related(self._decisions())

    @staticmethod
    def _decisions() -> Prefetch:
        """An action's decisions as its answer lists them: oldest first, with who decided."""
        # The full payload copies are not shown (the diff is), so they are neither read nor decrypted.
        decisions = Decision.objects.select_related("decided_by").defer("original_payload", "final_payload")
        return Prefetch("decisions", queryset=decisions.order_by("created_at", "id"))

    @extend_schema(
        request=s.ActionSubmitSerializer,
        responses={
            201: s.ProposedActionDetailSerializer,
            200: s.ProposedActionDetailSerializer,
            400: s.SubmissionErrorSerializer,
            409: s.SubmissionErrorSerializer,
        },
        description=(
            "Propose a tool call for approval. The payload must fit the kind's allow-listed schema; "
            "anything else is refused with 400 naming the field (`payload.subject`). The approval "
            "policy routes it at once: `approved`, `pending_approval` or `rejected`. Repeating an "
            "`idempotency_key` answers 200 with the earlier action; reusing it for other content is "
            "409. Poll `url`, or give a `callback_url` to receive the signed decision. Needs "
            "`approvals.add_proposedaction`."
        ),
    )
    def create(self, request: Request) -> Response:
        body = s.ActionSubmitSerializer(data=request.data)
        if not body.is_valid():
            field, message = _first_error(body.errors)
            return Response(
                {"code": "invalid", "field": field, "detail": f"{field}: {message}" if field else message},
                status=status.HTTP_400_BAD_REQUEST,
            )
        data = body.validated_data
        # A refusal (SubmissionRefused) is answered by core.api.exceptions.
        submission = action_submit(
            user=user_signed_in(request.user),
            kind=data["kind"],
            payload=data["payload"],
            rationale=data["rationale"],
            confidence=data["confidence"],
            idempotency_key=data["idempotency_key"],
            risk_level=data["risk_level"],
            domain=data.get("domain", ""),
            lead=data.get("lead"),
            ticket=data.get("ticket"),
            target_system=data.get("target_system", ""),
            callback_url=data.get("callback_url", ""),
            # The key the proposal came with (None for a session): it signs the callback.
            api_key=request.auth if isinstance(request.auth, ApiKey) else None,
        )
        # The proposer reads back what it proposed, whatever its scope.
        action = self._unscoped().get(pk=submission.action.pk)
        payload = self.get_serializer(action).data
        return Response(
            payload,
            status=status.HTTP_201_CREATED if submission.created else status.HTTP_200_OK,
            headers={"Location": str(payload["url"])},
        )

    def _decide(self, request: Request, decide: Callable[[], ProposedAction]) -> Response:
        try:
            action = decide()
        except ProposedAction.DoesNotExist:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        except PayloadNotSeen as exc:
            # What changed between the content the caller read and what it holds now, so the caller
            # can show it to its approver before they approve the new hash; masked for a caller who
            # may not read personal data. Other refusals (DecisionError) go to core.api.exceptions.
            if exc.changes and not user_sees_personal_data(user=request.user):
                return app_error_response(exc, changes=payload_diff_masked(exc.changes))
            raise
        # The service hands back the row it locked and saved (with its model version): answer from
        # it, reading only the decisions, rather than reading the action again.
        prefetch_related_objects([action], self._decisions())
        return Response(self.get_serializer(action).data)

    def _decidable_or_404(self, request: Request, pk: str) -> ProposedAction:
        """The action if the caller may decide it (same rule as the pages); else 404, recorded."""
        scoped = actions_decidable(
            user=request.user, queryset=ProposedAction.objects.only("pk", "risk_level")
        )
        return scoped_object_or_404(request=request, scoped=scoped, pk=pk)

    @extend_schema(
        request=s.ApproveRequestSerializer,
        responses={200: s.ProposedActionSerializer},
        description=(
            "Approve the payload you read: send its `payload_sha256` (400 naming the field without it), "
            "optionally with edits to the payload's fields. 409 `payload_changed` if someone edited it "
            "since, with the new `payload_sha256` and the `changes` (field: from, to); 409 "
            "`already_decided` if decided. From a browser session, a high-risk item needs the password "
            "confirmed recently (403 `reauth_required`)."
        ),
    )
    @action(detail=True, methods=["post"], permission_classes=[CanDecideActions])
    def approve(self, request: Request, pk: str) -> Response:
        target = self._decidable_or_404(request, pk)
        body = s.ApproveRequestSerializer(data=request.data)
        if not body.is_valid():
            field, message = _first_error(body.errors)
            return Response(
                {"code": "invalid", "field": field, "detail": f"{field}: {message}" if field else message},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if isinstance(request.successful_authenticator, SessionAuthentication):
            if signin.needs_confirmation(request._request, risk_level=target.risk_level):
                return Response(
                    {
                        "code": "reauth_required",
                        "detail": "Confirm your password to approve a high-risk item.",
                    },
                    status=status.HTTP_403_FORBIDDEN,
                )
        return self._decide(
            request,
            lambda: action_approve(
                action_id=int(pk),
                user=user_signed_in(request.user),
                seen_payload_sha256=body.validated_data["payload_sha256"],
                edits=body.validated_data.get("edits"),
                comment=body.validated_data.get("comment", ""),
                channel="api",
            ),
        )

    @extend_schema(
        request=s.RejectRequestSerializer,
        responses={200: s.ProposedActionSerializer},
        description="Reject with a reason code (required). 409 if already decided.",
    )
    @action(detail=True, methods=["post"], permission_classes=[CanDecideActions])
    def reject(self, request: Request, pk: str) -> Response:
        self._decidable_or_404(request, pk)
        body = s.RejectRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._decide(
            request,
            lambda: action_reject(
                action_id=int(pk),
                user=user_signed_in(request.user),
                reason_code=body.validated_data["reason_code"],
                comment=body.validated_data.get("comment", ""),
                channel="api",
            ),
        )


@extend_schema(parameters=[OpenApiParameter("kind", str), OpenApiParameter("status", str)])
class ModelVersionViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """The model registry (artifacts are not exposed)."""

    required_scopes = {"*": (Scope.READ_MODELS,)}

    serializer_class = s.ModelVersionSerializer

    def get_queryset(self) -> QuerySet[ModelVersion]:
        queryset = ModelVersion.objects.defer("artifact").order_by("kind", "-version")
        return _filter(queryset, self.request, ("kind", "status"))
