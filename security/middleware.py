"""Session clocks and security headers."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden

from security import signin
from security.roles import api_only
from security.selectors import user_access

# Save the sliding clock at most this often, not on every request (each save is a session write).
SEEN_RESOLUTION_SECONDS = 60


class SessionTimeoutMiddleware:
    """Signs a person out after SESSION_IDLE_MINUTES without a request (sliding) and, whatever the
    activity, SESSION_MAX_HOURS after signing in. Place it after the authentication and message middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            signed_in = request.session.get(signin.SIGNED_IN_AT)
            seen = request.session.get(signin.SEEN_AT)
            if signed_in is None or seen is None:
                # A session from before these clocks existed: start them now, but without counting
                # as a password proof.
                request.session[signin.SIGNED_IN_AT] = request.session[signin.SEEN_AT] = now
            elif (
                now - float(seen) > settings.SESSION_IDLE_MINUTES * 60
                or now - float(signed_in) > settings.SESSION_MAX_HOURS * 3600
            ):
                logout(request)
                if request.path.startswith("/api/"):
                    return self.get_response(request)
                messages.info(request, "Your session ended; please sign in again.")
                return redirect_to_login(request.get_full_path())
            elif now - float(seen) > SEEN_RESOLUTION_SECONDS:
                request.session[signin.SEEN_AT] = now
        return self.get_response(request)


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


class SecurityHeadersMiddleware:
    """Content-Security-Policy (no inline script or style anywhere) and Permissions-Policy.

    HSTS, nosniff, Referrer-Policy and X-Frame-Options come from Django's own middleware and settings.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


class NulByteGuardMiddleware:
    """Answers 400 to a query string or cookie holding a NUL character.

    PostgreSQL refuses NUL in text, so such a value reaching a filter or the session lookup would be
    a 500; forms and serializers already refuse NUL in bodies. Place it before SessionMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        values = [*request.GET.values(), *request.COOKIES.values()]
        if any("\x00" in value for value in values):
            return HttpResponseBadRequest("NUL characters are not allowed in query strings or cookies.")
        return self.get_response(request)


# What an integration account may still reach with a session: the API, signing out, and the
# machine endpoints that need no session anyway (health, metrics, signed webhooks).
API_ONLY_OPEN_PATHS = ("/api/", "/logout/", "/healthz", "/readyz", "/metrics", "/webhooks/")


class ApiOnlyMiddleware:
    """Keeps integration accounts (a role without pages, see ``security.roles``) off the browser
    pages: they answer 403 outside ``API_ONLY_OPEN_PATHS``. Place it after authentication."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(API_ONLY_OPEN_PATHS)
            and api_only(user_access(user=user))
        ):
            return HttpResponseForbidden(
                "This is an integration account: it uses the API (/api/v1/), not the pages.",
                content_type="text/plain",
            )
        return self.get_response(request)
