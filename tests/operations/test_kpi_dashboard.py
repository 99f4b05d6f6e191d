"""The KPI dashboard: daily series from the database, anomaly flags, SLO budgets, constant queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from approvals.models import Decision
from operations.models import ServiceLevelObjective
from operations.selectors import kpi_dashboard
from tests.factories import ProposedActionFactory, UserFactory

pytestmark = pytest.mark.django_db


def decide(n, *, days_ago, outcome="approve", late=False, user):
    now = timezone.now()
    for _ in range(n):
        action = ProposedActionFactory(status="approved", approved_payload_sha256="0" * 64)
        action.sla_due_at = now - timedelta(days=days_ago, hours=1 if late else -1)
        action.save(update_fields=["sla_due_at"])
        decision = Decision.objects.create(
            action=action,
            outcome=outcome,
            decided_by=user,
            payload_sha256="0" * 64,
            reason_code="bad_copy" if outcome == "reject" else "",
        )
        Decision.objects.filter(pk=decision.pk).update(created_at=now - timedelta(days=days_ago))


def panel(panels, name):
    return next(p for p in panels if p.kpi.name == name)


def test_override_rate_and_sla_attainment_follow_the_decisions():
    sofia = UserFactory(username="sofia")
    decide(8, days_ago=1, user=sofia)
    decide(2, days_ago=1, outcome="reject", user=sofia)
    decide(5, days_ago=2, late=True, user=sofia)
    panels, slos = kpi_dashboard()
    override = panel(panels, "override_rate")
    assert override.last7 == pytest.approx(2 / 15)
    attainment = panel(panels, "approval_sla_attainment")
    assert attainment.last7 == pytest.approx(10 / 15)
    (slo,) = slos  # the shipped objective: 95% within SLA over 28 days
    assert slo.budget.attainment == pytest.approx(10 / 15)
    assert slo.budget.burn_rate == pytest.approx((5 / 15) / 0.05)
    assert slo.budget.met is False


def test_a_bad_day_is_flagged_as_an_anomaly():
    sofia = UserFactory(username="sofia")
    for day in range(2, 16):
        decide(10, days_ago=day, user=sofia)
    decide(10, days_ago=1, outcome="reject", user=sofia)  # every decision overridden yesterday
    panels, _ = kpi_dashboard()
    flagged = panel(panels, "override_rate").anomalies
    assert [p.day for p in flagged] == [(timezone.now() - timedelta(days=1)).date()]
    assert panel(panels, "override_rate").spark.dots


def test_the_page_renders_in_a_constant_number_of_queries(client):
    sofia = UserFactory(username="sofia")
    client.force_login(sofia)
    decide(3, days_ago=1, user=sofia)
    with CaptureQueriesContext(connection) as few:
        response = client.get(reverse("kpis"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-kpi="override_rate"' in page and 'data-slo="Approvals decided within SLA"' in page
    decide(30, days_ago=3, user=sofia)
    ServiceLevelObjective.objects.create(name="Replies", kpi="reply_rate", objective=0.1)
    with CaptureQueriesContext(connection) as more:
        assert client.get(reverse("kpis")).status_code == 200
    assert len(few) == len(more)


def test_an_slo_on_an_unknown_kpi_is_refused():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="unknown KPI"):
        ServiceLevelObjective(name="x", kpi="nonsense", objective=0.9).full_clean()
