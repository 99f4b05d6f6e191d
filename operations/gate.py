"""Whether one outbound action may start now: kill switches first, then quotas; and which switch
holds applying configuration changes or sending decision callbacks. Pure (no ORM).

``operations.selectors.execution_admission`` gathers the switches and the counts, and the executor
calls it at the moment of execution (not only when work is queued), so after a switch is engaged
no new outbound call starts. A refused action is *held*, never dropped: the answer says why and,
for a quota, when the window has room again.

Agents are named ``family:part`` (``sdr-agent:cadences``); a switch on the family
(``sdr-agent``) stops every part of it, a switch on ``sdr-agent:cadences`` only that one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

GLOBAL, CONNECTOR, ACTION_KIND, AGENT = "global", "connector", "action_kind", "agent"
CONFIG_CHANGES, CALLBACKS = "config_changes", "callbacks"
#: Scopes whose one switch names no target: everything, every configuration change, every callback.
UNTARGETED_SCOPES = frozenset({GLOBAL, CONFIG_CHANGES, CALLBACKS})
CONFIG_CHANGE_KIND = "config_change"
SDR = "sdr"
WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class Work:
    """The action about to run: its kind, the connection it writes through, its agent and SDR."""

    kind: str
    connector: str = ""
    agent: str = ""
    sdr: str = ""


@dataclass(frozen=True)
class Switch:
    scope: str
    target: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Quota:
    """At most ``limit`` automated executions per ``window`` for the work matching ``scope``/``target``
    (an empty target: each kind / connection / SDR separately)."""

    id: int
    scope: str
    window: str
    limit: int
    target: str = ""


@dataclass(frozen=True)
class Admission:
    allowed: bool
    reason: str = ""
    hold: str = ""  # "switch" or "quota"
    retry_at: datetime | None = None


ADMIT = Admission(True)


def agent_names(agent: str) -> set[str]:
    """``sdr-agent:cadences`` → {"sdr-agent:cadences", "sdr-agent"}."""
    return {agent, agent.split(":", 1)[0]} if agent else set()


def blocking_switch(switches: Iterable[Switch], work: Work) -> Switch | None:
    """The first engaged switch that covers ``work`` (global first, then connection, kind, agent)."""
    order = {GLOBAL: 0, CONNECTOR: 1, ACTION_KIND: 2, AGENT: 3}
    for switch in sorted(switches, key=lambda s: (order.get(s.scope, 9), s.target)):
        if (
            switch.scope == GLOBAL
            or (switch.scope == CONNECTOR and work.connector and switch.target == work.connector)
            or (switch.scope == ACTION_KIND and switch.target == work.kind)
            or (switch.scope == AGENT and switch.target in agent_names(work.agent))
        ):
            return switch
    return None


def config_change_hold(switches: Iterable[Switch]) -> Switch | None:
    """The engaged switch that holds applying approved configuration changes: the global one, the
    one on configuration changes, or the one on the ``config_change`` action kind."""
    return next(
        (
            s
            for s in switches
            if s.scope in (GLOBAL, CONFIG_CHANGES)
            or (s.scope == ACTION_KIND and s.target == CONFIG_CHANGE_KIND)
        ),
        None,
    )


def callback_hold(switches: Iterable[Switch], *, agent: str) -> Switch | None:
    """The engaged switch that holds a decision callback to ``agent`` (the proposer): the global
    one, the one on callbacks, or one on that agent (a stopped agent is sent nothing either)."""
    return next(
        (
            s
            for s in switches
            if s.scope in (GLOBAL, CALLBACKS) or (s.scope == AGENT and s.target in agent_names(agent))
        ),
        None,
    )


def switch_reason(switch: Switch) -> str:
    """``kill switch on (connector HubSpot prod): 429 storm``: the words a hold is shown with."""
    where = f" {switch.target}" if switch.target else ""
    because = f": {switch.reason}" if switch.reason else ""
    return f"kill switch on ({switch.scope}{where}){because}"


def quota_key(quota: Quota, work: Work) -> str | None:
    """The counter ``work`` draws on under ``quota``, or None when the quota does not cover it."""
    value = {ACTION_KIND: work.kind, CONNECTOR: work.connector, SDR: work.sdr}.get(quota.scope, "")
    if not value or (quota.target and quota.target != value):
        return None
    return f"{quota.scope}:{value}"


def admit(
    work: Work,
    *,
    switches: Iterable[Switch],
    quotas: Iterable[Quota],
    used: Mapping[tuple[int, str], list[datetime]],
    now: datetime,
) -> Admission:
    """Whether ``work`` may start at ``now``. ``used[(quota id, key)]`` holds the start times of the
    executions already counted in that quota's window (any order)."""
    switch = blocking_switch(switches, work)
    if switch is not None:
        return Admission(False, switch_reason(switch), "switch")
    for quota in quotas:
        key = quota_key(quota, work)
        if key is None:
            continue
        window = WINDOWS[quota.window]
        recent = sorted(t for t in used.get((quota.id, key), ()) if t > now - window)
        if len(recent) >= quota.limit:
            retry_at = recent[len(recent) - quota.limit] + window
            return Admission(
                False,
                f"quota reached: {quota.limit} per {quota.window} for {key}; room again at {retry_at:%Y-%m-%d %H:%M} UTC",
                "quota",
                retry_at,
            )
    return ADMIT
