"""What a cadence does next for one enrolment: the pure rules of sequencing.

Each due step is decided from plain facts gathered in bulk by ``sales.cadence_services``:

1. an exit signal since enrolment (opt-out, complaint, bounce, meeting booked, reply) ends it;
2. an opted-out contact never gets another touch, whatever the channel;
3. a step on a channel the contact withdrew consent to (the consent registry, read by
   ``consent_for``: an SMS opt-out stops SMS, not email) is skipped and logged; a message (email,
   SMS) needs granted consent, else likewise;
4. pacing: at most ``max_touches`` touches per contact in any ``window`` across every channel
   and cadence, else the step waits until the oldest touch leaves the window;
5. quiet hours and weekends in the contact's own time zone move the step to the next allowed time.

No ORM, no clock: ``now`` is a parameter, so every rule is tested exhaustively and fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Exit signals in the order they win when several arrived: the strongest "stop" first.
EXIT_SIGNALS = ("opted_out", "complaint", "bounced", "meeting_booked", "replied")
MESSAGE_CHANNELS = frozenset({"email", "sms"})
GRANTED = "granted"
OPTED_OUT = "opted_out"
#: Consent withdrawn for this step's channel only (the contact may still be reached on others).
WITHDRAWN = "withdrawn"

RUN, SKIP, DEFER, EXIT = "run", "skip", "defer", "exit"


@dataclass(frozen=True)
class QuietHours:
    """No contact-facing step between ``start`` and ``end`` local time (wrapping midnight when
    ``start`` > ``end``; none when equal), nor on Saturdays and Sundays unless ``weekends``."""

    start: time = time(20, 0)
    end: time = time(8, 0)
    weekends: bool = False

    def is_quiet(self, local: datetime) -> bool:
        if not self.weekends and local.weekday() >= 5:
            return True
        t = local.time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True)
class Pacing:
    """At most ``max_touches`` touches per contact in any rolling ``window``."""

    max_touches: int = 3
    window: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class StepFacts:
    """One due step of one enrolment: what the rules need, gathered in bulk."""

    now: datetime
    channel: str
    consent: str
    timezone: str = "UTC"
    signals: frozenset[str] = frozenset()
    recent_touches: tuple[datetime, ...] = ()


@dataclass(frozen=True)
class Decision:
    """``verdict`` is run, skip, defer (until ``at``) or exit; ``reason`` says why in plain words."""

    verdict: str
    reason: str = ""
    at: datetime | None = None


def consent_for(lead: Any, channel: str, states: Mapping[str, str]) -> str:
    """What may be done on ``channel`` for ``lead`` (anything with a ``consent_state``), given its
    latest recorded status per channel (``consent.selectors.consent_states``): ``opted_out`` (the
    lead opted out of everything), ``withdrawn`` (this channel only), else the lead's own state
    (granted or unknown), raised to granted by a grant recorded for this channel. The lead's states
    (``sales.choices.ConsentState``) and the registry's (``consent.choices.ConsentStatus``) share
    these spellings."""
    if lead.consent_state == OPTED_OUT:
        return OPTED_OUT
    recorded = states.get(channel)
    if recorded == WITHDRAWN:
        return WITHDRAWN
    if recorded == GRANTED:
        return GRANTED
    return lead.consent_state


def zone(name: str) -> ZoneInfo:
    """The contact's time zone; an unknown name falls back to UTC rather than failing a run."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_allowed(at: datetime, tz_name: str, quiet: QuietHours) -> datetime:
    """The first moment at or after ``at`` outside quiet hours in ``tz_name`` (returned in ``at``'s
    zone). Steps over weekends and quiet nights; a day in a DST change uses the local wall time."""
    tz = zone(tz_name)
    local = at.astimezone(tz)
    for _ in range(16):  # a quiet night and a weekend take at most a handful of moves
        if not quiet.is_quiet(local):
            return local.astimezone(at.tzinfo)
        if not quiet.weekends and local.weekday() >= 5:
            local = _local(local.date() + timedelta(days=7 - local.weekday()), time(0, 0), tz)
            continue
        # Inside the quiet span: jump to its end, today or tomorrow.
        end_today = _local(local.date(), quiet.end, tz)
        local = end_today if end_today > local else _local(local.date() + timedelta(days=1), quiet.end, tz)
    raise ValueError("quiet hours leave no time to contact anyone")


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


def pacing_next_allowed(touches: Sequence[datetime], now: datetime, pacing: Pacing) -> datetime:
    """``now`` if another touch fits the window, else when enough earlier touches leave it."""
    recent = sorted(t for t in touches if t > now - pacing.window)
    if len(recent) < pacing.max_touches:
        return now
    return recent[len(recent) - pacing.max_touches] + pacing.window


def decide_step(facts: StepFacts, *, quiet: QuietHours, pacing: Pacing) -> Decision:
    """What to do with one due step now; see the module docstring for the order of the rules."""
    for signal in EXIT_SIGNALS:
        if signal in facts.signals:
            return Decision(EXIT, signal)
    if facts.consent == OPTED_OUT:
        return Decision(EXIT, OPTED_OUT)
    if facts.consent == WITHDRAWN:
        return Decision(SKIP, f"the contact withdrew consent to {facts.channel}")
    if facts.channel in MESSAGE_CHANNELS and facts.consent != GRANTED:
        return Decision(SKIP, f"no recorded consent to {facts.channel} this contact")
    paced = pacing_next_allowed(facts.recent_touches, facts.now, pacing)
    at = next_allowed(paced, facts.timezone, quiet)
    if at > facts.now:
        if paced > facts.now:
            reason = (
                f"pacing: {pacing.max_touches} touches within {_span(pacing.window)} already; "
                f"next allowed {at:%Y-%m-%d %H:%M} UTC"
            )
        else:
            local = at.astimezone(zone(facts.timezone))
            reason = f"quiet hours in {facts.timezone}: waits until {local:%a %H:%M} local time"
        return Decision(DEFER, reason, at)
    return Decision(RUN)


def _span(window: timedelta) -> str:
    days = window.total_seconds() / 86400
    return f"{days:g} days" if days >= 1 else f"{window.total_seconds() / 3600:g} hours"


def enrolment_day(counts_by_day: Mapping[date, int], today: date, limit: int, horizon: int = 60) -> date:
    """The first day from ``today`` on which an SDR with ``counts_by_day`` new enrolments still has
    room under ``limit`` per day; the excess waits for later days, it is never dropped."""
    for offset in range(horizon):
        day = today + timedelta(days=offset)
        if counts_by_day.get(day, 0) < limit:
            return day
    raise ValueError(f"no room for a new enrolment within {horizon} days at {limit} per day")
