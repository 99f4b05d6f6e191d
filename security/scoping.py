"""View helpers shared by pages and API views: open one scoped item or answer 404 (recorded), and
keep people without a browser role (integration accounts) off the pages.

The scope itself is ``security.selectors``; these only turn it into HTTP answers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from security.selectors import user_access
from security.services import access_denial_record

M = TypeVar("M", bound=Model)


def scoped_object_or_404(*, request: Any, scoped: QuerySet[M], pk: object, reason: str = "out of scope") -> M:
    """``scoped.get(pk=pk)``; if it is not there but exists unscoped, the attempt is recorded as an
    ``AccessDenial``. Either way the answer is ``Http404``: an id outside the scope reveals nothing."""
    try:
        return scoped.get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError):
        pass
    model = scoped.model
    try:
        exists = model._default_manager.filter(pk=pk).exists()
    except (ValueError, TypeError):
        exists = False
    if exists:
        access_denial_record(
            user=request.user,
            method=request.method or "",
            path=request.path,
            object_type=model._meta.label_lower,
            object_id=pk,
            reason=reason,
        )
    raise Http404(f"No such {model._meta.verbose_name} in your scope.")


def role_required(
    check: Callable[[Any], bool], message: str
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Signed in, and ``check(access)`` holds; otherwise 403 with ``message``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(user_access(user=request.user)):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


leads_required = role_required(lambda a: a.leads, "Your role does not read leads.")
