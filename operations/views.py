"""The Prometheus scrape endpoint and the KPI dashboard."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from operations.metrics import registry


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; with ``METRICS_TOKEN`` set, only for ``Authorization: Bearer <token>``."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse("metrics need the bearer token\n", status=401, content_type="text/plain")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


@login_required
def kpi_dashboard_page(request: HttpRequest) -> HttpResponse:
    from operations.selectors import kpi_dashboard

    panels, slos = kpi_dashboard()
    return render(request, "operations/kpis.html", {"panels": panels, "slos": slos})


@login_required
def change_log_page(request: HttpRequest) -> HttpResponse:
    from operations.selectors import change_log

    return render(request, "operations/changes.html", {"rows": change_log()})


@login_required
def roi_page(request: HttpRequest) -> HttpResponse:
    from operations.selectors import roi_report

    result, inputs, volumes = roi_report()
    return render(request, "operations/roi.html", {"roi": result, "inputs": inputs, "volumes": volumes})
