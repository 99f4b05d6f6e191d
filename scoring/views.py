from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from sales.models import Lead
from sales.scoping import leads_scoped
from scoring.charts import shap_bar_chart
from scoring.choices import AlertStatus, ScoreRole
from scoring.models import DriftAlert, DriftReport, LeadScore
from scoring.selectors import champion
from security.scoping import scoped_object_or_404


@login_required
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A lead with its acting score, the reasons behind it as a chart, and its score history.
    A lead outside the user's scope is 404, the attempt recorded."""
    lead = scoped_object_or_404(
        request=request,
        scoped=leads_scoped(user=request.user, queryset=Lead.objects.select_related("owner", "account")),
        pk=pk,
    )
    history = list(
        LeadScore.objects.filter(lead=lead)
        .select_related("model_version")
        .defer("model_version__artifact", "model_version__reference", "model_version__validation_lead_ids")
        .order_by("-scored_at", "-id")[:20]
    )
    acting = next((s for s in history if s.role in (ScoreRole.CHAMPION, ScoreRole.CANARY)), None)
    return render(
        request,
        "scoring/lead_detail.html",
        {
            "lead": lead,
            "acting": acting,
            "chart": shap_bar_chart(acting.reasons) if acting else None,
            "history": history,
            "attributes": sorted((lead.attributes or {}).items()),
        },
    )


@login_required
def drift_page(request: HttpRequest) -> HttpResponse:
    """The latest drift report of the champion, feature by feature, and the open alerts."""
    current = champion()
    report = (
        DriftReport.objects.filter(model_version=current).order_by("-created_at", "-id").first()
        if current
        else None
    )
    alerts = (
        DriftAlert.objects.filter(status=AlertStatus.OPEN)
        .select_related("model_version")
        .defer("model_version__artifact", "model_version__reference", "model_version__validation_lead_ids")
    )
    results = sorted(report.results, key=lambda r: -r["psi"]) if report else []
    return render(
        request,
        "scoring/drift.html",
        {"champion": current, "report": report, "results": results, "alerts": alerts},
    )
