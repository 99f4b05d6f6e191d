"""What scoring knows about the leads actions act on (``approvals.subjects``), registered in
``ScoringConfig.ready``: the policy's score and drift facts, and the score's reasons on the
approval page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.template.loader import render_to_string

from approvals.choices import Domain
from approvals.subjects import Facts, FactSource, Panel
from scoring.charts import shap_bar_chart
from scoring.monitoring import model_drift_state
from scoring.selectors import acting_score_values, acting_scores


def _facts(actions: Sequence[Any]) -> Facts:
    """A lead's acting score; for a sales action, the lead model's drift state too (a model the
    policy cannot trust makes its actions wait for a person)."""
    scores = acting_score_values([a.lead_id for a in actions if a.lead_id is not None])
    drift = model_drift_state() if any(a.domain == Domain.SALES for a in actions) else "ok"
    facts: Facts = {}
    for action in actions:
        found: dict[str, Any] = {}
        if action.lead_id is not None:
            found["score"] = scores.get(action.lead_id)
        if action.domain == Domain.SALES:
            found["drift_state"] = drift
        if found:
            facts[action.pk] = found
    return facts


def _score_panel(action: Any) -> str:
    acting = acting_scores([action.lead_id]).get(action.lead_id)
    chart = shap_bar_chart(acting.reasons) if acting is not None and acting.reasons else None
    return render_to_string("scoring/_lead_score_panel.html", {"acting": acting, "chart": chart})


SCORES = FactSource(name="lead scores", facts=_facts)
SCORE_PANEL = Panel(name="lead score reasons", subject="lead", render=_score_panel)
