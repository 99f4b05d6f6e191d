"""The cadence page: how each cadence and step performs, and what the playbook experiments show."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from sales.selectors import cadence_metrics, experiment_results
from security.scoping import leads_required


@leads_required
def cadences_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "sales/cadences.html",
        {"cadences": cadence_metrics(), "experiments": experiment_results()},
    )
