from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from scoring.intent import what_if
from support.metrics import METRICS
from support.selectors import intent_policies, intent_version_holdout, support_metrics_page


class ThresholdWhatIfForm(forms.Form):
    intent = forms.ChoiceField(choices=())
    threshold = forms.FloatField(min_value=0.0, max_value=1.0)

    def __init__(self, *args: object, intents: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["intent"].choices = [(i, i) for i in intents]  # type: ignore[attr-defined]


@login_required
def threshold_whatif(request: HttpRequest) -> HttpResponse:
    """For a proposed threshold of one intent: what coverage and precision it would have had on the
    labelled hold-out of the champion intent model (else the newest), from its stored predictions;
    nothing is retrained."""
    if not request.user.is_staff:
        raise PermissionDenied("Staff only.")
    policies = intent_policies()
    version = intent_version_holdout()
    form = ThresholdWhatIfForm(request.GET or None, intents=[p.intent for p in policies])
    current = {p.intent: p.threshold for p in policies}
    result = baseline = None
    if version is not None and form.is_valid():
        holdout = version.reference.get("holdout", {})
        intent = form.cleaned_data["intent"]
        common = {
            "labels": holdout.get("labels", []),
            "predicted": holdout.get("predicted", []),
            "confidence": holdout.get("confidence", []),
            "intent": intent,
            "default": float(version.preprocessing.get("default_threshold", 0.0)),
            "thresholds": current,
        }
        result = what_if(threshold=form.cleaned_data["threshold"], **common)
        if intent in current:
            baseline = what_if(threshold=current[intent], **common)
    return render(
        request,
        "support/threshold_whatif.html",
        {"form": form, "version": version, "result": result, "baseline": baseline, "policies": policies},
    )


PERIODS = (7, 30, 90)


@login_required
def support_metrics(request: HttpRequest) -> HttpResponse:
    """Containment, FCR, CSAT, escalation rate and handle times over a period, by intent and by day,
    against the pre-automation baseline (dates in the admin: Support › Support settings)."""
    if not request.user.has_perm("support.view_ticket"):
        raise PermissionDenied("Support leads and staff only.")
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in PERIODS else 30
    page = support_metrics_page(days=days)
    headers = [label for _, label, _, _, _ in METRICS]
    return render(
        request, "support/metrics.html", {"page": page, "days": days, "periods": PERIODS, "headers": headers}
    )
