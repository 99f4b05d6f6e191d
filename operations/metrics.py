"""Prometheus metrics at ``/metrics``.

Two kinds: request counters and latencies measured in each web process (``RequestMetricsMiddleware``;
with several processes set ``PROMETHEUS_MULTIPROC_DIR`` so they are summed; the connectors count
their calls the same way, in ``connectors.calls``), and the state of the
work read from the database at scrape time (``StateCollector``), which is the same whichever
process answers: actions by kind and status, people's decisions, approval latency, SLA breaches,
the task queue, the execution backlog, kill switches and the decision log's seal lag. The names
are listed in docs/observability.md and checked by a test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REQUESTS = Counter(
    "agentops_http_requests",
    "HTTP requests answered, by method, route and status.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "agentops_http_request_duration_seconds",
    "Time to answer a request, by route.",
    ["route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
#: ``agentops_circuit_breaker_state`` values: 0 closed, 1 half-open, 2 open.
BREAKER_STATE_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
LATENCY_WINDOW = timedelta(hours=24)
QUANTILES = (0.5, 0.9, 0.99)


class RequestMetricsMiddleware:
    """Counts requests and times them by route pattern (never by raw path, which holds ids)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        REQUESTS.labels(request.method or "", route, str(response.status_code)).inc()
        REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
        return response


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class StateCollector(Collector):
    """Reads the state of the work at scrape time (a handful of grouped queries)."""

    def collect(self) -> Iterator[Metric]:
        from approvals.choices import ActionStatus, DecisionOutcome
        from approvals.models import Decision, ProposedAction
        from approvals.states import OPEN_STATUSES
        from audit.selectors import audit_seal_lag
        from operations.models import KillSwitch
        from taskruns.choices import TaskRunStatus
        from taskruns.models import TaskRun

        now = timezone.now()
        actions = GaugeMetricFamily(
            "agentops_actions", "Proposed actions by kind and status.", labels=["kind", "status"]
        )
        for kind, status, n in (
            ProposedAction.objects.values_list("kind", "status").annotate(n=Count("id")).order_by()
        ):
            actions.add_metric([kind, status], n)
        yield actions

        decisions = CounterMetricFamily(
            "agentops_decisions",
            "Decisions on proposed actions, by outcome and by whom.",
            labels=["outcome", "by"],
        )
        for by, is_policy in (("person", False), ("policy", True)):
            counts = dict(
                Decision.objects.filter(decided_by__isnull=is_policy)
                .values_list("outcome")
                .annotate(n=Count("id"))
                .order_by()
            )
            for outcome in DecisionOutcome.values:  # zeros too, so rates can be computed from the start
                decisions.add_metric([outcome, by], counts.get(outcome, 0))
        yield decisions

        waits = [
            d.total_seconds()
            for d in Decision.objects.filter(
                decided_by__isnull=False, created_at__gte=now - LATENCY_WINDOW, time_to_decide__isnull=False
            ).values_list("time_to_decide", flat=True)[:20000]
            if d is not None
        ]
        latency = GaugeMetricFamily(
            "agentops_approval_latency_seconds",
            "Time from proposal to a person's decision over the last 24 hours, by quantile.",
            labels=["quantile"],
        )
        for q in QUANTILES:
            latency.add_metric([str(q)], _quantile(waits, q))
        yield latency

        breached = ProposedAction.objects.filter(status__in=list(OPEN_STATUSES), sla_due_at__lt=now).count()
        yield GaugeMetricFamily(
            "agentops_sla_breached_actions", "Items waiting for people past their SLA.", value=breached
        )

        backlog = ProposedAction.objects.filter(status=ActionStatus.APPROVED).aggregate(
            n=Count("id"), oldest=Min("decided_at")
        )
        yield GaugeMetricFamily(
            "agentops_execution_backlog", "Approved actions not yet executed.", value=backlog["n"]
        )
        oldest = backlog["oldest"]
        yield GaugeMetricFamily(
            "agentops_execution_backlog_oldest_age_seconds",
            "Age of the oldest approved action not yet executed (0 when none).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )

        depth, age = _task_queue()
        yield GaugeMetricFamily(
            "agentops_task_queue_depth", "Tasks waiting in the django-q2 broker.", value=depth
        )
        yield GaugeMetricFamily(
            "agentops_task_queue_oldest_age_seconds",
            "Age of the oldest task waiting in the broker (ORM broker only; 0 otherwise or when empty).",
            value=age,
        )

        switches = GaugeMetricFamily(
            "agentops_kill_switch_engaged", "1 while a kill switch is engaged.", labels=["scope", "target"]
        )
        for scope, target, engaged in KillSwitch.objects.values_list("scope", "target", "engaged"):
            switches.add_metric([scope, target], 1.0 if engaged else 0.0)
        yield switches

        yield _breaker_states()

        runs = dict(
            TaskRun.objects.filter(status__in=[TaskRunStatus.FAILED, TaskRunStatus.RETRYING])
            .values_list("status")
            .annotate(n=Count("id"))
            .order_by()
        )
        yield GaugeMetricFamily(
            "agentops_task_runs_failed",
            "Task runs that gave up after their last attempt (kept until deleted in the admin).",
            value=runs.get(TaskRunStatus.FAILED, 0),
        )
        yield GaugeMetricFamily(
            "agentops_task_runs_retrying",
            "Task runs waiting for another attempt (an attempt raised, or its worker died).",
            value=runs.get(TaskRunStatus.RETRYING, 0),
        )

        yield GaugeMetricFamily(
            "agentops_audit_seal_lag_seconds",
            "Age of the oldest decision-log entry not yet sealed into the hash chain (0 when none).",
            value=audit_seal_lag(now=now).total_seconds(),
        )


def _breaker_states() -> Metric:
    """Each active connection's circuit breaker, read from the store every worker shares."""
    from connectors.models import Connection
    from connectors.throttle import connection_breaker_phase

    breakers = GaugeMetricFamily(
        "agentops_circuit_breaker_state",
        "A connection's circuit breaker: 0 closed, 1 half-open, 2 open.",
        labels=["connection"],
    )
    for connection in Connection.objects.filter(is_active=True):
        breakers.add_metric([connection.name], BREAKER_STATE_VALUES[connection_breaker_phase(connection)])
    return breakers


def _task_queue() -> tuple[int, float]:
    from django_q.brokers import get_broker
    from django_q.models import OrmQ

    broker = get_broker()
    try:
        depth = int(broker.queue_size() or 0)
    except Exception:  # noqa: BLE001 - a broker that cannot be reached must not break the scrape
        return -1, 0.0
    age = 0.0
    if broker.__class__.__name__ == "ORM":
        first = OrmQ.objects.order_by("id").values_list("lock", flat=True).first()
        if first is not None:
            age = max(0.0, (timezone.now() - first).total_seconds())
    return depth, age


def registry() -> CollectorRegistry:
    """What a scrape reads: this process's (or every process's) request metrics, and the state."""
    from prometheus_client import REGISTRY

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        combined.register(StateCollector())
        return combined
    if not getattr(registry, "_state_registered", False):
        REGISTRY.register(StateCollector())
        registry._state_registered = True  # type: ignore[attr-defined]
    return REGISTRY
