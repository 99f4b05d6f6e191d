"""``POST /api/v1/support/surveys/``: survey tools record CSAT answers per ticket."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from security.api_scopes import ScopedViewSetMixin
from security.choices import Scope
from support.api.serializers import SurveyAnswerSerializer, SurveyErrorSerializer, SurveyRecordedSerializer
from support.models import Ticket
from support.services import SurveyConflict, SurveyRecorded, survey_response_record


class CanRecordSurveys(permissions.BasePermission):
    message = (
        "Your account may not record survey answers "
        "(needs support.add_surveyresponse and support.change_surveyresponse)."
    )

    def has_permission(self, request: Request, view: object) -> bool:
        return bool(
            request.user
            and request.user.has_perms(["support.add_surveyresponse", "support.change_surveyresponse"])
        )


def _error(code: str, field: str, detail: str, http_status: int) -> Response:
    return Response({"code": code, "field": field, "detail": detail}, status=http_status)


def _first_error(errors: dict[str, Any]) -> tuple[str, str]:
    field, messages = next(iter(errors.items()))
    message = messages[0] if isinstance(messages, list) and messages else messages
    return ("" if field == "non_field_errors" else str(field)), str(message)


class SurveyResponseViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    """Survey answers (CSAT) per ticket, recorded by a survey tool or the helpdesk's survey."""

    # A survey tool delivers answers as a helpdesk delivers events: the ``webhooks`` scope.
    required_scopes = {"*": (Scope.WEBHOOKS,)}
    permission_classes = [permissions.IsAuthenticated, CanRecordSurveys]
    serializer_class = SurveyAnswerSerializer

    @extend_schema(
        request=SurveyAnswerSerializer,
        responses={
            201: SurveyRecordedSerializer,
            200: SurveyRecordedSerializer,
            400: SurveyErrorSerializer,
            409: SurveyErrorSerializer,
        },
        description=(
            "Record the customer's survey answer (1–5) for a ticket named by `source` and "
            "`external_id`. Idempotent per ticket and `survey_id`: the same answer again answers 200 "
            "with `changed: false`; a newer `responded_at` for the same survey replaces the answer "
            "(200), an older one changes nothing. A ticket holds one survey's answer: another "
            "`survey_id` is 409. Bad input is 400 naming the field (`score: …`); an unknown ticket is "
            "400 on `external_id`. Needs an API key with the `webhooks` scope (or a session) and "
            "`support.add_surveyresponse` + `support.change_surveyresponse`."
        ),
    )
    def create(self, request: Request) -> Response:
        body = SurveyAnswerSerializer(data=request.data)
        if not body.is_valid():
            field, message = _first_error(body.errors)
            return _error(
                "invalid", field, f"{field}: {message}" if field else message, status.HTTP_400_BAD_REQUEST
            )
        data = body.validated_data
        ticket = Ticket.objects.filter(source=data["source"], external_id=data["external_id"]).first()
        if ticket is None:
            detail = f"external_id: no {data['source']} ticket {data['external_id']!r}"
            return _error("not_found", "external_id", detail, status.HTTP_400_BAD_REQUEST)
        actor = f"api:{request.user.get_username()}"
        try:
            recorded = survey_response_record(
                ticket=ticket,
                survey_id=data["survey_id"],
                score=data["score"],
                responded_at=data["responded_at"],
                comment=data.get("comment", ""),
                actor=actor,
            )
        except SurveyConflict as exc:
            return _error("conflict", exc.field, str(exc), status.HTTP_409_CONFLICT)
        return Response(
            _answer(recorded, ticket, data["survey_id"]),
            status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK,
        )


def _answer(recorded: SurveyRecorded, ticket: Ticket, survey_id: str) -> dict[str, Any]:
    response = recorded.response
    return SurveyRecordedSerializer(
        {
            "id": response.pk,
            "ticket": ticket.pk,
            "source": ticket.source,
            "external_id": ticket.external_id,
            "survey_id": survey_id,
            "score": response.score,
            "comment": response.comment,
            "responded_at": response.responded_at,
            "changed": recorded.changed,
        }
    ).data
