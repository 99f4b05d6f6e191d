from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods

from security import signin
from security.forms import ConfirmPasswordForm


def confirm_password_url(next_url: str) -> str:
    return f"{reverse('confirm-password')}?{urlencode({'next': next_url})}"


def _safe_next(request: HttpRequest, target: str) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("dashboard")


@require_http_methods(["GET", "POST"])
@login_required
def confirm_password(request: HttpRequest) -> HttpResponse:
    """Prove the password again before a high-risk decision, then go back to the item."""
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    form = ConfirmPasswordForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        signin.mark_confirmed(request)
        messages.success(request, "Password confirmed. You can decide high-risk items now.")
        return HttpResponseRedirect(next_url)
    status = 400 if request.method == "POST" else 200
    return render(request, "security/confirm_password.html", {"form": form, "next": next_url}, status=status)
