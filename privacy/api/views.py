"""``/api/v1/consent/``: record or withdraw a lead's consent per channel, and read its current state."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from consent.choices import Channel, ConsentStatus
from consent.selectors import consent_history, consent_states
from privacy.api.serializers import ConsentChangeSerializer, ConsentRecordSerializer, ConsentStateSerializer
from privacy.services import PrivacyError, consent_record
from sales.cadence import consent_for
from sales.models import Lead
from sales.scoping import leads_scoped
from security.api_scopes import ScopedViewSetMixin
from security.choices import Scope
from security.models import ApiKey
from security.roles import api_only
from security.scoping import scoped_object_or_404
from security.selectors import user_access

HISTORY_LIMIT = 50


class CanRecordConsent(permissions.BasePermission):
    message = "Your account may not read or record consent (staff, or the permission to view / change leads)."

    def has_permission(self, request: Request, view: object) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        # Staff may, except a read-only role (auditors are staff to browse the admin) writing.
        if user.is_staff and not (
            request.method not in permissions.SAFE_METHODS and user_access(user=user).read_only
        ):
            return True
        perm = "sales.view_lead" if request.method in permissions.SAFE_METHODS else "sales.change_lead"
        return bool(user.has_perm(perm))


ERROR_STATUS = {"not_found": status.HTTP_404_NOT_FOUND, "forbidden": status.HTTP_403_FORBIDDEN}


def _error(field: str, message: str, code: str = "invalid") -> Response:
    return Response(
        {"code": code, "field": field, "detail": f"{field}: {message}" if field else message},
        status=ERROR_STATUS.get(code, status.HTTP_400_BAD_REQUEST),
    )


def _grant_refusal(request: Request) -> str:
    """Why the caller may not record a grant (empty when they may). Granting consent is a person's
    act: an API key, or an integration account (an agent, a sync), may withdraw consent, never grant
    it, so the agent being overseen can never make a contact reachable."""
    if isinstance(request.auth, ApiKey) or api_only(user_access(user=request.user)):
        return (
            "an API key or integration account may record a withdrawal, not a grant; consent is "
            "granted by a person signed in, with evidence"
        )
    return ""


def _first_error(errors: Any) -> tuple[str, str]:
    field, value = next(iter(errors.items()))
    while isinstance(value, list | dict):
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
    return ("" if field == "non_field_errors" else str(field)), str(value)


def _state(lead: Lead) -> dict[str, Any]:
    states = consent_states(leads=[lead]).get(lead.pk, {})
    return {
        "lead": lead.pk,
        "consent_state": lead.consent_state,
        "channels": {c.value: consent_for(lead, c.value, states) for c in Channel},
        "history": ConsentRecordSerializer(consent_history(lead=lead)[:HISTORY_LIMIT], many=True).data,
    }


def _lead_in_scope(request: Request, pk: int) -> Lead | None:
    """The lead if the caller's role reaches it; one outside their scope reads as missing (and the
    attempt is recorded as an access denial), like every other id lookup."""
    try:
        return scoped_object_or_404(request=request, scoped=leads_scoped(user=request.user), pk=pk)
    except Http404:
        return None


class ConsentViewSet(ScopedViewSetMixin, viewsets.ViewSet):
    """Consent per lead and channel. A withdrawal takes effect at once on queued work."""

    permission_classes = [CanRecordConsent]
    required_scopes = {"create": (Scope.WRITE_LEADS,), "*": (Scope.READ_LEADS,)}

    @extend_schema(
        parameters=[OpenApiParameter("lead", int, required=True, description="The lead's id.")],
        responses={200: ConsentStateSerializer},
        description="The lead's current consent per channel and its latest consent records.",
    )
    def list(self, request: Request) -> Response:
        raw = request.query_params.get("lead", "")
        if not raw:
            return _error("lead", "this query parameter is required (the lead's id)")
        if not raw.isdigit():
            return _error("lead", f"{raw!r} is not a lead id (a positive integer)")
        lead = _lead_in_scope(request, int(raw))
        if lead is None:
            return _error("lead", f"no lead with id {raw}", code="not_found")
        return Response(_state(lead))

    @extend_schema(
        request=ConsentChangeSerializer,
        responses={201: ConsentStateSerializer},
        description=(
            "Record a consent statement: `granted` or `withdrawn` for one channel (email, sms, phone, "
            "linkedin). A withdrawal cancels the lead's unsent work on that channel at once. A grant is "
            "recorded by a person signed in (never an API key or integration account, 403), and one that "
            "lifts a withdrawal needs `evidence` (400 naming it)."
        ),
    )
    def create(self, request: Request) -> Response:
        body = ConsentChangeSerializer(data=request.data)
        if not body.is_valid():
            return _error(*_first_error(body.errors))
        data = body.validated_data
        if data["status"] == ConsentStatus.GRANTED and (refusal := _grant_refusal(request)):
            return _error("status", refusal, code="forbidden")
        if _lead_in_scope(request, data["lead"]) is None:
            return _error("lead", f"no lead with id {data['lead']}", code="not_found")
        try:
            consent_record(
                lead_id=data["lead"],
                channel=data["channel"],
                status=data["status"],
                lawful_basis=data["lawful_basis"],
                source=data["source"],
                note=data["note"],
                evidence=data["evidence"],
                actor=f"api:{request.user.get_username()}",
            )
        except PrivacyError as exc:
            return _error(exc.field, exc.message, code="not_found" if exc.field == "lead" else "invalid")
        lead = Lead.objects.get(pk=data["lead"])
        return Response(_state(lead), status=status.HTTP_201_CREATED)
