"""Reads for the fail-safes: the admission of one action at the moment it would execute."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.utils import timezone

from operations.gate import WINDOWS, Admission, Quota, Switch, Work, admit, quota_key
from operations.models import KillSwitch
from operations.models import Quota as QuotaRow


def engaged_switches() -> list[Switch]:
    """Every engaged switch, read fresh (one indexed query): no cache may delay a stop."""
    return [
        Switch(scope, target, reason)
        for scope, target, reason in KillSwitch.objects.filter(engaged=True).values_list(
            "scope", "target", "reason"
        )
    ]


def active_quotas() -> list[Quota]:
    return [
        Quota(pk, scope, window, limit, target)
        for pk, scope, window, limit, target in QuotaRow.objects.filter(is_active=True).values_list(
            "pk", "scope", "window", "limit", "target"
        )
    ]


def execution_admission(work: Work, *, now: datetime | None = None) -> Admission:
    """Whether ``work`` may start now (kill switches, then quotas). Quotas count the automated
    executions (``executing``, ``executed`` or ``failed`` actions, by the time they started) in their
    window, so a held action is not counted until it runs."""
    now = now or timezone.now()
    switches = engaged_switches()
    quotas = active_quotas() if not switches else []
    used: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    covering = [(q, key) for q in quotas if (key := quota_key(q, work)) is not None]
    if covering:
        from approvals.models import ProposedAction

        since = now - max(WINDOWS[q.window] for q, _ in covering)
        rows = ProposedAction.objects.filter(
            execution_started_at__gte=since, status__in=["executing", "executed", "failed"]
        ).values_list("kind", "target_system", "proposed_by", "lead__owner__username", "execution_started_at")
        for kind, connector, agent, sdr, started in rows:
            if started is None:
                continue
            other = Work(kind=kind, connector=connector, agent=agent, sdr=sdr or "")
            for quota, key in covering:
                if quota_key(quota, other) == key:
                    used[(quota.id, key)].append(started)
    return admit(work, switches=switches, quotas=quotas, used=used, now=now)
