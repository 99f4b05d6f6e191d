"""Reads for the fail-safes: the admission of one action at the moment it would execute."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from approvals.executors import Hold
from core.kpis import Budget, Day, KpiDef, Point, Series, Spark, flag_anomalies, slo_budget, sparkline
from operations.config_diff import Diff, diff_rows
from operations.gate import (
    ADMIT,
    CALLBACKS,
    CONFIG_CHANGES,
    WINDOWS,
    Admission,
    Quota,
    Switch,
    Work,
    admit,
    callback_hold,
    config_change_hold,
    quota_key,
    switch_reason,
)
from operations.models import KillSwitch, ServiceLevelObjective
from operations.models import Quota as QuotaRow
from operations.roi import CostInputs, Roi, Volumes, roi


def engaged_switches() -> list[Switch]:
    """Every engaged switch, read fresh (one indexed query): no cache may delay a stop."""
    return [
        Switch(scope, target, reason)
        for scope, target, reason in KillSwitch.objects.filter(engaged=True).values_list(
            "scope", "target", "reason"
        )
    ]


def kill_switches_engaged_rows() -> list[KillSwitch]:
    """The engaged switches as the pages' banner shows them: scope, target, reason, who and since
    when (one query; read fresh, like every stop)."""
    return list(
        KillSwitch.objects.filter(engaged=True)
        .only("scope", "target", "reason", "changed_by", "changed_at")
        .order_by("changed_at")
    )


def kill_switch_hold(*, activity: str, agent: str = "") -> str:
    """Why an engaged kill switch holds ``activity`` now (``"config_changes"``: applying approved
    configuration changes; ``"callbacks"``: sending a decision callback to ``agent``), or "" when
    nothing holds it. Read fresh, like the executor's check: held work waits, it is never dropped."""
    switches = engaged_switches()
    if activity == CONFIG_CHANGES:
        switch = config_change_hold(switches)
    elif activity == CALLBACKS:
        switch = callback_hold(switches, agent=agent)
    else:
        raise ValueError(f"activity: {CONFIG_CHANGES} or {CALLBACKS}, got {activity!r}")
    return switch_reason(switch) if switch is not None else ""


def active_quotas() -> list[Quota]:
    return [
        Quota(pk, scope, window, limit, target)
        for pk, scope, window, limit, target in QuotaRow.objects.filter(is_active=True).values_list(
            "pk", "scope", "window", "limit", "target"
        )
    ]


def execution_admission(work: Work, *, now: datetime | None = None) -> Admission:
    """Whether ``work`` may start now (kill switches, then quotas)."""
    return execution_admissions([work], now=now)[0]


def execution_admissions(
    works: Sequence[Work], *, now: datetime | None = None, counted: Sequence[bool] = ()
) -> list[Admission]:
    """Whether each of ``works`` may start now, in order: each one admitted counts against the
    quotas of those after it, so a batch never overshoots. Quotas count the automated executions
    (``executing``, ``executed`` or ``failed`` actions, by the time they started) in their window,
    so a held action is not counted until it runs. ``counted[i]`` true: work ``i`` has started
    already (a retry) and counts in its quotas; only a kill switch holds it.

    Read once for the whole batch; to make it the last word, call it in the transaction that starts
    the work, after ``quotas_lock``."""
    now = now or timezone.now()
    switches = engaged_switches()
    quotas = active_quotas() if not switches else []
    used: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    keys = {key for q in quotas for work in works if (key := quota_key(q, work)) is not None}
    if keys:
        from approvals.models import ProposedAction

        since = now - max(WINDOWS[q.window] for q in quotas)
        rows = ProposedAction.objects.filter(
            execution_started_at__gte=since, status__in=["executing", "executed", "failed"]
        ).values_list("kind", "target_system", "proposed_by", "lead__owner__username", "execution_started_at")
        for kind, connector, agent, sdr, started in rows:
            if started is None:
                continue
            other = Work(kind=kind, connector=connector, agent=agent, sdr=sdr or "")
            for quota in quotas:
                key = quota_key(quota, other)
                if key is not None and key in keys:
                    used[(quota.id, key)].append(started)
    admissions = []
    for n, work in enumerate(works):
        admission = admit(work, switches=switches, quotas=quotas, used=used, now=now)
        retry = n < len(counted) and counted[n]
        if admission.hold == "quota" and retry:
            admission = ADMIT
        if admission.allowed and not retry:
            for quota in quotas:
                key = quota_key(quota, work)
                if key is not None:
                    used[(quota.id, key)].append(now)
        admissions.append(admission)
    return admissions


def execution_holds(
    actions: Sequence[Any], targets: Sequence[str], started: Sequence[bool], now: datetime
) -> list[Hold | None]:
    """The kill switches and quotas as the outbox's gate (``approvals.executors.Gate``): per action,
    None or why it waits and until when."""
    works = [
        Work(
            kind=a.kind,
            connector=target,
            agent=a.proposed_by,
            sdr=a.lead.owner.username if a.lead is not None and a.lead.owner is not None else "",
        )
        for a, target in zip(actions, targets, strict=True)
    ]
    return [
        None if admission.allowed else Hold(admission.reason, admission.retry_at)
        for admission in execution_admissions(works, now=now, counted=started)
    ]


def quotas_lock() -> None:
    """Lock the active quotas' rows until the transaction ends: workers starting work one after
    another see each other's starts when they count (PostgreSQL; SQLite writes one at a time)."""
    list(QuotaRow.objects.select_for_update().filter(is_active=True).order_by("pk").values_list("pk"))


# --- KPI dashboard -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiPanel:
    kpi: KpiDef
    points: list[Point]
    spark: Spark
    last7: float | None
    previous7: float | None
    anomalies: list[Point]


@dataclass(frozen=True)
class SloRow:
    slo: ServiceLevelObjective
    label: str
    budget: Budget


def _window_rate(series: Series, start: date, end: date) -> tuple[float, float]:
    hits = sum(h for d, (h, _) in series.items() if start <= d < end)
    total = sum(t for d, (_, t) in series.items() if start <= d < end)
    return hits, total


def kpi_dashboard(*, days: int = 30, now: datetime | None = None) -> tuple[list[KpiPanel], list[SloRow]]:
    """Every registered KPI's daily series over ``days`` with anomaly flags, its last 7 days against
    the 7 before, and every active SLO's error budget. One query per KPI, one for the SLOs."""
    from operations.kpi_series import KPIS

    now = now or timezone.now()
    today = now.date()
    slos = list(ServiceLevelObjective.objects.filter(is_active=True))
    span = max([days, *[s.window_days for s in slos]])
    start = datetime.combine(today - timedelta(days=span - 1), time(0, 0), tzinfo=now.tzinfo)
    series = {name: definition.read(start) for name, definition in KPIS.items()}
    panels = []
    for name, definition in KPIS.items():
        daily = [
            Day(day, *series[name].get(day, (0, 0)))
            for day in (today - timedelta(days=offset) for offset in range(days - 1, -1, -1))
        ]
        points = flag_anomalies(daily)
        h7, t7 = _window_rate(series[name], today - timedelta(days=6), today + timedelta(days=1))
        hp, tp = _window_rate(series[name], today - timedelta(days=13), today - timedelta(days=6))
        panels.append(
            KpiPanel(
                definition,
                points,
                sparkline(points),
                h7 / t7 if t7 else None,
                hp / tp if tp else None,
                [p for p in points if p.anomaly],
            )
        )
    rows = []
    for slo in slos:
        if slo.kpi not in series:
            continue
        good, total = _window_rate(
            series[slo.kpi], today - timedelta(days=slo.window_days - 1), today + timedelta(days=1)
        )
        rows.append(
            SloRow(slo, KPIS[slo.kpi].label, slo_budget(good=good, total=total, objective=slo.objective))
        )
    return panels, rows


# --- Change-control log ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeRow:
    action_id: int
    model: str
    object: str
    status: str
    proposed_by: str
    proposed_at: datetime
    risk_note: str
    diff: list[Diff]
    decided_by: str
    decided_at: datetime | None
    decision: str
    applied_at: datetime | None


def change_log(*, limit: int = 200) -> list[ChangeRow]:
    """Configuration changes proposed under change control, newest first: who proposed, who decided,
    what changed and when (two queries)."""
    from approvals.choices import ActionKind
    from approvals.models import Decision, ProposedAction

    actions = list(
        ProposedAction.objects.filter(kind=ActionKind.CONFIG_CHANGE)
        .select_related("proposed_by_user")
        .prefetch_related(
            Prefetch(
                "decisions", queryset=Decision.objects.select_related("decided_by").order_by("created_at")
            )
        )
        .order_by("-created_at", "-pk")[:limit]
    )
    rows = []
    for action in actions:
        decision = next((d for d in reversed(action.decisions.all()) if d.outcome != "defer"), None)
        proposer = action.proposed_by_user
        rows.append(
            ChangeRow(
                action_id=action.pk,
                model=action.payload.get("model", ""),
                object=action.payload.get("object") or "(new)",
                status=action.status,
                proposed_by=proposer.get_username() if proposer else action.proposed_by,
                proposed_at=action.created_at,
                risk_note=action.payload.get("risk_note", ""),
                diff=diff_rows(action.payload),
                decided_by=decision.decided_by.get_username() if decision and decision.decided_by else "",
                decided_at=decision.created_at if decision else None,
                decision=decision.get_outcome_display() if decision else "",
                applied_at=action.executed_at,
            )
        )
    return rows


# --- ROI ---------------------------------------------------------------------------------------


def roi_report(*, days: int = 30, now: datetime | None = None) -> tuple[Roi, CostInputs, Volumes]:
    """The ROI of the last ``days`` from the recorded work and the admin's cost settings."""
    from approvals.models import Decision, ProposedAction
    from operations.models import CostSettings
    from sales.selectors import experiment_results

    now = now or timezone.now()
    since = now - timedelta(days=days)
    row = CostSettings.objects.get_or_create(singleton=True)[0]
    inputs = CostInputs(
        hourly_cost=float(row.hourly_cost),
        minutes_saved={k: float(v) for k, v in (row.minutes_saved or {}).items()},
        minutes_per_decision=float(row.minutes_per_decision),
        compute_per_1000=float(row.compute_per_1000),
        vendor_cost_per_month=float(row.vendor_cost_per_month),
        value_per_conversion=float(row.value_per_conversion),
    )
    executed = dict(
        ProposedAction.objects.filter(status="executed", executed_at__gte=since)
        .values_list("kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    decisions = Decision.objects.filter(created_at__gte=since).exclude(outcome="defer")
    counts = decisions.aggregate(
        human=Count("id", filter=Q(decided_by__isnull=False)),
        auto=Count("id", filter=Q(decided_by__isnull=True, outcome="approve")),
        caught=Count("id", filter=Q(decided_by__isnull=False, outcome__in=["reject", "edit_approve"])),
    )
    extra = sum(
        max(r.effects["conversion"].difference, 0.0) * r.effects["conversion"].treatment_n
        for r in experiment_results()
    )
    volumes = Volumes(days, executed, counts["human"], counts["auto"], counts["caught"], extra)
    return roi(inputs, volumes), inputs, volumes
