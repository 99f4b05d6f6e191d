"""The scope check for API keys. Session and basic authentication are not limited by scopes
(the user's own permissions apply); a key must carry one of the scopes the view names."""

from __future__ import annotations

from django.conf import settings
from rest_framework import permissions
from rest_framework.request import Request

from security.models import ApiKey


def required_scopes(view: object) -> tuple[str, ...]:
    """The scopes (any one suffices) a view asks of a key for the current action.

    Views declare ``required_scopes = {"list": ("read_leads",), ..., "*": (...)}``; an action not
    listed falls back to ``"*"``; a view with neither answers nothing, which refuses every key.
    """
    table: dict[str, tuple[str, ...]] = getattr(view, "required_scopes", {})
    action = getattr(view, "action", None) or ""
    return table.get(action, table.get("*", ()))


class HasScope(permissions.BasePermission):
    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request: Request, view: object) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        needed = required_scopes(view)
        if any(request.auth.has_scope(s) for s in needed):
            return True
        self.message = (
            f"This API key lacks the scope this endpoint needs (one of: {', '.join(needed) or 'none'})."
        )
        return False


class SchemaAccess(permissions.BasePermission):
    """The OpenAPI document and its viewer: open in the demo (``API_SCHEMA_PUBLIC``, DEBUG on), and
    for a signed-in user or any valid API key otherwise (it maps every endpoint an attacker would try)."""

    message = "Sign in or send an API key to read the API schema."

    def has_permission(self, request: Request, view: object) -> bool:
        return bool(settings.API_SCHEMA_PUBLIC or (request.user and request.user.is_authenticated))
