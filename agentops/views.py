from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from approvals.choices import ActionStatus, Domain
from approvals.selectors import actions_for_list, actions_open_count_by_domain
from approvals.states import OPEN_STATUSES
from sales.choices import LeadStatus
from sales.selectors import lead_counts_by_status, leads_for_list
from support.models import Ticket

PAGE_SIZE = 50


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The landing page: open work per team, the newest leads and the actions waiting for people."""
    return render(
        request,
        "dashboard.html",
        {
            "open_by_domain": actions_open_count_by_domain(),
            "lead_counts": lead_counts_by_status(),
            "ticket_total": Ticket.objects.count(),
            "leads": leads_for_list()[:10],
            "actions": actions_for_list().filter(status__in=OPEN_STATUSES)[:10],
        },
    )


@login_required
def lead_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    source = request.GET.get("source", "")
    search = request.GET.get("q", "").strip()
    page = Paginator(leads_for_list(status=status, source=source, search=search), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "sales/lead_list.html",
        {"page": page, "status": status, "source": source, "q": search, "statuses": LeadStatus.choices},
    )


@login_required
def action_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    domain = request.GET.get("domain", "")
    page = Paginator(actions_for_list(status=status, domain=domain), PAGE_SIZE).get_page(
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
