from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from scoring.intent import what_if
from support.selectors import intent_policies, intent_version_holdout


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
