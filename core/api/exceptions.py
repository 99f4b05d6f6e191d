"""The API's answer to an application error (``core.errors.AppError``), in one place.

A view lets a service's ``AppError`` propagate; this handler (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``)
answers with the error's body and status. Everything else is DRF's own handling.
"""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import AppError


def app_error_response(error: AppError, **replace: Any) -> Response:
    """The response to ``error``; ``replace`` overrides parts of its body (a view masking what this
    caller may not read, for example)."""
    return Response({**error.body(), **replace}, status=error.http_status)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, AppError):
        return app_error_response(exc)
    return exception_handler(exc, context)
