"""The pages behind one-click email links (and, in ``notifications.slack.views``, Slack's requests).

``decide_by_email``: GET shows what the link would decide and asks to confirm — it decides nothing,
since mail scanners and link previews follow links; the POST decides (``email_links``). An approval
of an item whose risk needs re-authentication (``REAUTH_RISK_LEVELS``) asks for it as the approval
page does: signed in as the link's approver, with the password proved within ``REAUTH_MINUTES``.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from approvals.changes import payload_diff_masked, payload_rows
from approvals.forms import RejectForm
from approvals.services import DecisionError
from notifications.choices import LinkDecision
from notifications.email_links import LinkRefused, approval_link_open, approval_link_use
from notifications.models import ApprovalLink
from security import signin
from security.masking import mask_mapping, may_view_personal_data
from security.views import confirm_password_url


def _refused(request: HttpRequest, exc: LinkRefused | DecisionError, status: int) -> HttpResponse:
    changes = getattr(exc, "changes", None)
    if changes and not may_view_personal_data(request.user if request.user.is_authenticated else None):
        changes = payload_diff_masked(changes)
    return render(
        request,
        "notifications/decide.html",
        {"state": "refused", "code": exc.code, "message": exc.message, "changes": changes},
        status=status,
    )


def _needs_sign_in(request: HttpRequest, link: ApprovalLink) -> HttpResponse | None:
    """The re-authentication the web asks before a risky approval, or None when none is needed."""
    if link.decision != LinkDecision.APPROVE or not signin.needs_confirmation(
        request, risk_level=link.action.risk_level
    ):
        return None
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return HttpResponseRedirect(confirm_password_url(request.get_full_path()))


@require_http_methods(["GET", "POST"])
def decide_by_email(request: HttpRequest, token: str) -> HttpResponse:
    now = timezone.now()
    try:
        link = approval_link_open(token=token, now=now)
    except LinkRefused as exc:
        return _refused(request, exc, exc.http_status)
    if request.user.is_authenticated and request.user.pk != link.user_id:
        wrong = LinkRefused(
            "wrong_user", "This link was sent to another approver; sign out or open your own."
        )
        return _refused(request, wrong, wrong.http_status)
    if (answer := _needs_sign_in(request, link)) is not None:
        return answer
    action = link.action
    form = RejectForm(request.POST or None) if link.decision == LinkDecision.REJECT else None
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            action = approval_link_use(
                token=token,
                now=now,
                reason_code=form.cleaned_data["reason_code"] if form else "",
                comment=form.cleaned_data["comment"] if form else request.POST.get("comment", ""),
            )
        except LinkRefused as exc:
            return _refused(request, exc, exc.http_status)
        except DecisionError as exc:
            return _refused(request, exc, exc.http_status)
        return render(request, "notifications/decide.html", {"state": "done", "action": action, "link": link})
    payload = action.payload if may_view_personal_data(link.user) else mask_mapping(action.payload)
    return render(
        request,
        "notifications/decide.html",
        {
            "state": "confirm",
            "link": link,
            "action": action,
            "payload_rows": payload_rows(payload),
            "form": form,
        },
        status=400 if request.method == "POST" else 200,
    )
