from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from operations.selectors import kill_switches_engaged_rows
from security.selectors import user_access


def environment(request: HttpRequest) -> dict[str, str]:
    return {"environment": settings.ENVIRONMENT}


def kill_switches(request: HttpRequest) -> dict[str, Any]:
    """``engaged_switches``: every engaged kill switch, for the banner every page shows while one is
    on (read only by pages that render it, once)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"engaged_switches": SimpleLazyObject(kill_switches_engaged_rows)}


def navigation(request: HttpRequest) -> dict[str, Any]:
    """``access``: the signed-in user's roles (``security.roles.Access``), so the top bar shows only
    the pages the role may open; read only by pages that render the menu."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"access": SimpleLazyObject(lambda: user_access(user=user))}
