"""Explicit state machines: the allowed transitions of a status field in one place.

Pure code with no ORM import; services ask the machine before they change a status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class IllegalTransition(Exception):
    """A status change the state machine does not allow."""

    def __init__(self, machine: str, current: str, target: str, allowed: Iterable[str]) -> None:
        self.machine = machine
        self.current = current
        self.target = target
        self.allowed = tuple(sorted(allowed))
        allowed_text = ", ".join(self.allowed) or "none (final state)"
        super().__init__(
            f"{machine}: cannot go from '{current}' to '{target}'; allowed from '{current}': {allowed_text}."
        )


class StateMachine:
    """A named set of allowed ``from -> to`` transitions over string states."""

    def __init__(self, name: str, transitions: Mapping[str, Iterable[str]]) -> None:
        self.name = name
        self._transitions = {source: frozenset(targets) for source, targets in transitions.items()}
        unknown = {t for targets in self._transitions.values() for t in targets} - set(self._transitions)
        if unknown:
            raise ValueError(f"{name}: targets without an entry of their own: {sorted(unknown)}")

    @property
    def states(self) -> frozenset[str]:
        return frozenset(self._transitions)

    def allowed_from(self, current: str) -> frozenset[str]:
        return self._transitions.get(current, frozenset())

    def is_final(self, state: str) -> bool:
        return not self.allowed_from(state)

    def can(self, current: str, target: str) -> bool:
        return target in self.allowed_from(current)

    def check(self, current: str, target: str) -> None:
        """Raise IllegalTransition unless ``current -> target`` is allowed."""
        if current not in self._transitions:
            raise IllegalTransition(self.name, current, target, ())
        if not self.can(current, target):
            raise IllegalTransition(self.name, current, target, self.allowed_from(current))
