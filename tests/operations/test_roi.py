"""ROI: the arithmetic, and the page from recorded work and the cost settings."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import Decision, ProposedAction
from operations.models import CostSettings
from operations.roi import CostInputs, Volumes, roi
from tests.factories import ProposedActionFactory, UserFactory

INPUTS = CostInputs(
    hourly_cost=60, minutes_saved={"send_email": 6, "create_task": 3}, minutes_per_decision=1,
    compute_per_1000=2, vendor_cost_per_month=300, value_per_conversion=1000,
)  # fmt: skip


def test_the_arithmetic():
    volumes = Volumes(30, {"send_email": 100, "create_task": 40, "flag_for_review": 5}, 50, 95, 10, 1.5)
    result = roi(INPUTS, volumes)
    assert result.hours_saved == pytest.approx(10 + 2)
    assert result.time_value == pytest.approx(720)
    assert result.conversion_value == pytest.approx(1500)
    assert result.approval_cost == pytest.approx(50)
    assert result.compute_cost == pytest.approx(0.29)
    assert result.vendor_cost == pytest.approx(300)
    assert result.net == pytest.approx(720 + 1500 - 50 - 0.29 - 300)
    assert result.roi == pytest.approx(result.net / 350.29)
    assert result.coverage == pytest.approx(95 / 145)
    assert result.caught_share == pytest.approx(0.2)
    assert [k for k, _, _ in result.by_kind] == ["create_task", "flag_for_review", "send_email"]


def test_nothing_recorded_gives_no_ratio():
    result = roi(INPUTS, Volumes(30, {}, 0, 0, 0, -2.0))
    assert (result.roi is not None, result.coverage, result.caught_share, result.conversion_value) == (
        True,
        None,
        None,
        0,
    )


@pytest.mark.django_db
def test_the_page_uses_executed_work_and_the_admins_costs(client):
    CostSettings.objects.update(
        hourly_cost=60, minutes_per_decision=2, vendor_cost_per_month=0, compute_per_1000=0
    )
    sofia = UserFactory(username="sofia")
    client.force_login(sofia)
    for _ in range(10):
        action = ProposedActionFactory(kind="send_email", status="executed", approved_payload_sha256="0" * 64)
        ProposedAction.objects.filter(pk=action.pk).update(executed_at=timezone.now())
        Decision.objects.create(action=action, outcome="approve", decided_by=sofia, payload_sha256="0" * 64)
    response = client.get(reverse("roi"))
    assert response.status_code == 200
    page = response.content.decode()
    # 10 emails × 6 min (shipped default) = 1 h = 60; 10 decisions × 2 min = 20 → net 40
    assert 'data-roi="hours">1.0<' in page
    assert 'data-roi="net">40<' in page
    assert 'data-kind="send_email"' in page
