from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static

from approvals.choices import ActionStatus, Domain
from approvals.selectors import actions_for_list, actions_open_count_by_domain
from approvals.states import OPEN_STATUSES
from sales.choices import LeadStatus
from sales.scoping import leads_scoped
from sales.selectors import leads_for_list
from security.scoping import leads_required
from support.scoping import tickets_scoped

PAGE_SIZE = 50


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The landing page: open work per team, the newest leads and the actions waiting for people,
    each limited to what the user's role reaches (``security.roles``)."""
    user = request.user
    leads: Any = leads_scoped(user=user)
    return render(
        request,
        "dashboard.html",
        {
            "open_by_domain": actions_open_count_by_domain(user=user),
            "lead_counts": dict(leads.order_by().values_list("status").annotate(n=Count("id"))),
            "ticket_total": tickets_scoped(user=user).count(),
            "leads": leads_scoped(user=user, queryset=leads_for_list())[:10],
            "actions": actions_for_list(user=user).filter(status__in=OPEN_STATUSES)[:10],
        },
    )


@leads_required
def lead_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    source = request.GET.get("source", "")
    search = request.GET.get("q", "").strip()
    leads = leads_scoped(
        user=request.user, queryset=leads_for_list(status=status, source=source, search=search)
    )
    page = Paginator(leads, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "sales/lead_list.html",
        {"page": page, "status": status, "source": source, "q": search, "statuses": LeadStatus.choices},
    )


@login_required
def action_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    domain = request.GET.get("domain", "")
    page = Paginator(actions_for_list(status=status, domain=domain, user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "approvals/action_list.html",
        {
            "page": page,
            "status": status,
            "domain": domain,
            "statuses": ActionStatus.choices,
            "domains": Domain.choices,
        },
    )


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for on pages that name no icon (the admin's): the icon's
    static address, read when asked (the manifest of hashed names exists only after collectstatic)."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
