"""Writes for the fail-safes: engaging and releasing kill switches, each with its log entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.choices import EventType
from audit.services import decision_log_append
from operations.choices import UNTARGETED_SWITCH_SCOPES, IncidentStatus, SwitchScope
from operations.models import AutoPauseRule, Incident, IncidentEvent, KillSwitch


class SwitchError(ValueError):
    """A kill-switch change that does not make sense; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def kill_switch_set(*, scope: str, target: str = "", engaged: bool, actor: str, reason: str) -> KillSwitch:
    """Engage or release the switch for ``scope``/``target`` (created on first use), recording who and
    why in the decision log in the same transaction. Engaging takes effect for the next call that
    checks, on every worker: the executor reads the switches fresh before each outbound call, and
    so do applying configuration changes and sending callbacks (``selectors.kill_switch_hold``)."""
    if scope not in SwitchScope.values:
        raise SwitchError("scope", f"must be one of {', '.join(SwitchScope.values)}, got {scope!r}")
    target = target.strip()
    if scope in UNTARGETED_SWITCH_SCOPES and target:
        raise SwitchError("target", f"must be empty for the {SwitchScope(scope).label.lower()} switch")
    if scope not in UNTARGETED_SWITCH_SCOPES and not target:
        raise SwitchError("target", f"names the {SwitchScope(scope).label.lower()} to switch")
    if not reason.strip():
        raise SwitchError("reason", "say why, for the people who read the log later")
    with transaction.atomic():
        switch = KillSwitch.objects.select_for_update().filter(scope=scope, target=target).first()
        previous = switch.engaged if switch else False
        values = {
            "engaged": engaged,
            "reason": reason.strip(),
            "changed_by": actor,
            "changed_at": timezone.now(),
        }
        if switch is None:
            switch = KillSwitch.objects.create(scope=scope, target=target, **values)
        else:
            for name, value in values.items():
                setattr(switch, name, value)
            switch.save()
        decision_log_append(
            event_type=EventType.KILL_SWITCH_CHANGED,
            actor=actor,
            subject_type="kill_switch",
            subject_id=switch.pk,
            action_taken={
                "scope": scope,
                "target": target,
                "from": previous,
                "to": engaged,
                "reason": reason,
            },
        )
    return switch


# --- Auto-pause and incidents ------------------------------------------------------------------


@dataclass
class AutoPauseSummary:
    checked: int = 0
    tripped: list[int] = field(default_factory=list)


def autopause_run(*, now: datetime | None = None) -> AutoPauseSummary:
    """Read every active rule's metric; a rule that trips (and has no open incident) opens an
    incident and engages its kill switch, in one transaction with the log entries. Safe to run from
    several workers: one open incident per rule is enforced by the database."""
    from operations.autopause import RuleSpec, evaluate
    from operations.readings import READINGS

    now = now or timezone.now()
    summary = AutoPauseSummary()
    open_rules = set(
        Incident.objects.filter(status=IncidentStatus.OPEN, rule__isnull=False).values_list(
            "rule_id", flat=True
        )
    )
    for rule in AutoPauseRule.objects.filter(is_active=True).exclude(pk__in=open_rules):
        comparison, read = READINGS[rule.metric]
        summary.checked += 1
        trip = evaluate(RuleSpec(rule.metric, comparison, rule.threshold, rule.min_samples), read(rule, now))
        if trip is None:
            continue
        try:
            incident = _incident_open(rule, trip.as_dict(), now)
        except IntegrityError:
            continue  # another worker opened it first
        summary.tripped.append(incident.pk)
    return summary


def _incident_open(rule: AutoPauseRule, trigger: dict[str, object], now: datetime) -> Incident:
    actor = f"auto-pause:{rule.name}"
    with transaction.atomic():
        incident = Incident.objects.create(
            title=f"{rule.name}: {trigger['summary']}",
            rule=rule,
            trigger=trigger,
            runbook_url=rule.runbook_url,
            opened_at=now,
        )
        switch = kill_switch_set(
            scope=rule.switch_scope,
            target=rule.switch_target,
            engaged=True,
            actor=actor,
            reason=f"incident #{incident.pk}: {trigger['summary']}",
        )
        incident.switch = switch
        incident.actions_taken = [f"engaged kill switch {switch}"]
        incident.save(update_fields=["switch", "actions_taken", "updated_at"])
        IncidentEvent.objects.bulk_create(
            [
                IncidentEvent(incident=incident, at=now, actor=actor, text=f"Opened: {trigger['summary']}"),
                IncidentEvent(incident=incident, at=now, actor=actor, text=f"Engaged kill switch: {switch}"),
            ]
        )
        decision_log_append(
            event_type=EventType.INCIDENT_OPENED,
            actor=actor,
            subject_type="incident",
            subject_id=incident.pk,
            input_context={"rule": rule.name},
            prediction=trigger,
            action_taken={"kill_switch": {"scope": switch.scope, "target": switch.target, "engaged": True}},
        )
    return incident


def incident_resolve(*, incident_id: int, actor: str, resolution: str, release_switch: bool) -> Incident:
    """Close an incident (an explicit human step), optionally releasing its kill switch so held work
    runs again; logged with who, why and what was done."""
    if not resolution.strip():
        raise SwitchError("resolution", "say what was wrong and what was done")
    now = timezone.now()
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update(of=("self",)).select_related("switch").get(pk=incident_id)
        )
        if incident.status != IncidentStatus.OPEN:
            raise SwitchError("status", f"incident #{incident.pk} is already {incident.status}")
        events = [IncidentEvent(incident=incident, at=now, actor=actor, text=f"Resolved: {resolution}")]
        if release_switch and incident.switch is not None:
            switch = incident.switch
            kill_switch_set(
                scope=switch.scope,
                target=switch.target,
                engaged=False,
                actor=actor,
                reason=f"incident #{incident.pk} resolved",
            )
            incident.actions_taken = [
                *incident.actions_taken,
                f"released kill switch {switch.scope} {switch.target}",
            ]
            events.append(
                IncidentEvent(incident=incident, at=now, actor=actor, text="Released the kill switch")
            )
        incident.status, incident.resolved_at = IncidentStatus.RESOLVED, now
        incident.resolved_by, incident.resolution = actor, resolution.strip()
        incident.save()
        IncidentEvent.objects.bulk_create(events)
        decision_log_append(
            event_type=EventType.INCIDENT_RESOLVED,
            actor=actor,
            subject_type="incident",
            subject_id=incident.pk,
            action_taken={"release_switch": release_switch, "resolution": resolution.strip()},
        )
    return incident
