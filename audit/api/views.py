"""The decision-log export over HTTP: JSON Lines for a date range, for the roles that export it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import orjson
from django.http import StreamingHttpResponse
from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.selectors import decision_log_export_rows
from security.choices import Scope
from security.permissions import HasScope
from security.selectors import user_access

logger = logging.getLogger(__name__)

# One request exports at most this many days; longer ranges go through `manage.py export_audit_log`.
MAX_EXPORT_DAYS = 366


class CanExportAudit(permissions.BasePermission):
    message = "Your role may not export the decision log (auditors and ops admins do)."

    def has_permission(self, request: Request, view: object) -> bool:
        return user_access(user=request.user).export_audit


def _day(value: str, *, field: str) -> tuple[datetime | None, str]:
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None:
        return (
            None,
            f"{field}: {value!r} is not a date (YYYY-MM-DD)" if value else f"{field}: required (YYYY-MM-DD)",
        )
    return datetime.combine(day, time.min, tzinfo=UTC), ""


class DecisionLogExportView(APIView):
    """``GET /api/v1/audit/export/?from=YYYY-MM-DD&to=YYYY-MM-DD`` (UTC days, ``to`` included)."""

    permission_classes = [permissions.IsAuthenticated, HasScope, CanExportAudit]
    required_scopes = {"*": (Scope.EXPORT_AUDIT,)}

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True, description="First UTC day."),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True, description="Last UTC day, included."),
        ],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
        description=(
            "The decision-log entries of a date range as JSON Lines, oldest first, each with its seal "
            "(as `manage.py export_audit_log` writes them). Auditors and ops admins; a key needs the "
            f"`export_audit` scope. At most {MAX_EXPORT_DAYS} days per request; bad dates are 400 naming "
            "the parameter."
        ),
    )
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        date_from, error = _day(request.query_params.get("from", ""), field="from")
        date_to, error_to = _day(request.query_params.get("to", ""), field="to")
        if error or error_to or date_from is None or date_to is None:
            field = "from" if error else "to"
            return Response({"field": field, "detail": error or error_to}, status=status.HTTP_400_BAD_REQUEST)
        if date_to.date() == date_to.date().max:
            return Response({"field": "to", "detail": "to: must be before 9999-12-31"}, status=400)
        date_to += timedelta(days=1)
        if date_to <= date_from:
            return Response({"field": "to", "detail": "to: must not be before from"}, status=400)
        if date_to - date_from > timedelta(days=MAX_EXPORT_DAYS):
            return Response(
                {"field": "to", "detail": f"to: at most {MAX_EXPORT_DAYS} days from `from` per request"},
                status=400,
            )
        logger.info(
            "Decision log exported",
            extra={
                "event": "audit_export",
                "user": request.user.get_username(),
                "from": str(date_from.date()),
            },
        )

        def lines() -> Iterator[bytes]:
            for row in decision_log_export_rows(date_from=date_from, date_to=date_to):
                yield orjson.dumps(row) + b"\n"

        response = StreamingHttpResponse(lines(), content_type="application/x-ndjson")
        name = f"decision-log-{date_from.date()}-{(date_to - timedelta(days=1)).date()}.jsonl"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
