"""Writes for the fail-safes: engaging and releasing kill switches, each with its log entry."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.choices import EventType
from audit.services import decision_log_append
from operations.choices import SwitchScope
from operations.models import KillSwitch


class SwitchError(ValueError):
    """A kill-switch change that does not make sense; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def kill_switch_set(*, scope: str, target: str = "", engaged: bool, actor: str, reason: str) -> KillSwitch:
    """Engage or release the switch for ``scope``/``target`` (created on first use), recording who and
    why in the decision log in the same transaction. Engaging takes effect for the next call that
    checks, on every worker: the executor reads the switches fresh before each outbound call."""
    if scope not in SwitchScope.values:
        raise SwitchError("scope", f"must be one of {', '.join(SwitchScope.values)}, got {scope!r}")
    target = target.strip()
    if scope == SwitchScope.GLOBAL and target:
        raise SwitchError("target", "must be empty for the global switch")
    if scope != SwitchScope.GLOBAL and not target:
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
