"""/metrics is scraped like Prometheus does, and the documented names are there with sane values."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from approvals.models import Decision, ProposedAction
from connectors.calls import CallContext, record_call
from connectors.models import Connection
from operations.services import kill_switch_set
from tests.factories import ProposedActionFactory, UserFactory

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def scrape(client, **headers):
    response = client.get(reverse("metrics"), **headers)
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def test_the_documented_metric_names_are_all_exported(client):
    ProposedActionFactory()
    kill_switch_set(scope="global", engaged=False, actor="olivia", reason="drill")
    Connection.objects.create(name="crm", vendor="hubspot", base_url="https://api.hubapi.com")
    record_call(CallContext("crm", "hubspot"), method="GET", url="/crm/v3/owners", status=200, seconds=0.01)
    client.get(reverse("healthz"))
    names = {name for name, _ in scrape(client)}
    documented = set(re.findall(r"^\| `(agentops_[a-z_]+)`", DOC.read_text(), flags=re.M))
    assert len(documented) >= 12
    missing = {n for n in documented if not any(s == n or s.startswith(n + "_") for s in names)}
    assert not missing, f"documented but not exported: {sorted(missing)}"


def test_values_follow_the_state_of_the_work(client):
    sofia = UserFactory(username="sofia")
    now = timezone.now()
    pending = ProposedActionFactory(
        kind="send_email", status="pending_approval", sla_due_at=now - timedelta(minutes=5)
    )
    ProposedActionFactory(kind="send_email", status="pending_approval", sla_due_at=now + timedelta(hours=1))
    decided = ProposedActionFactory(kind="create_task", status="rejected", decided_at=now)
    Decision.objects.create(
        action=decided,
        outcome="reject",
        reason_code="bad_copy",
        decided_by=sofia,
        time_to_decide=timedelta(seconds=90),
    )
    kill_switch_set(scope="agent", target="sdr-agent", engaged=True, actor="olivia", reason="drill")
    samples = scrape(client)
    assert value(samples, "agentops_actions", kind="send_email", status="pending_approval") == 2
    assert value(samples, "agentops_actions", kind="create_task", status="rejected") == 1
    assert value(samples, "agentops_sla_breached_actions") == 1
    assert value(samples, "agentops_decisions_total", outcome="reject", by="person") == 1
    assert value(samples, "agentops_approval_latency_seconds", quantile="0.5") == 90
    assert value(samples, "agentops_kill_switch_engaged", scope="agent", target="sdr-agent") == 1
    assert value(samples, "agentops_execution_backlog") == 0
    assert value(samples, "agentops_task_queue_depth") >= 0
    assert ProposedAction.objects.get(pk=pending.pk).status == "pending_approval"


def test_requests_are_counted_by_route_never_by_raw_path(client):
    client.force_login(UserFactory(username="sofia"))
    before = (
        value(scrape(client), "agentops_http_requests_total", method="GET", route="healthz", status="200")
        or 0
    )
    client.get(reverse("healthz"))
    client.get(reverse("healthz"))
    samples = scrape(client)
    assert (
        value(samples, "agentops_http_requests_total", method="GET", route="healthz", status="200")
        == before + 2
    )
    assert not any("/leads/1" in str(labels) for _, labels in samples)


def test_a_token_protects_the_endpoint_when_set(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape"
    assert client.get(reverse("metrics")).status_code == 401
    assert client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-scrape")
