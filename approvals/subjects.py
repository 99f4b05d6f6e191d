"""The subjects registry: the kinds of record an action acts on, and what approvals needs of each.

An action acts on a lead, a helpdesk ticket or a piece of our own configuration. Approvals decides
on them without knowing any of them: the app that owns a kind of record registers it here in its
``AppConfig.ready()``, and approvals asks the registry:

- ``sales`` registers ``lead``, ``support`` registers ``ticket``, ``operations`` registers
  ``configuration`` (a change-controlled setting);
- each ``Subject`` finds the record a proposal names, checks that a payload acts on that record and
  no other (``approvals.targets``), shows the record as it is now and what the action would change,
  and supplies the policy facts its records hold (a lead's deal and account value, an ownership
  change);
- an app that knows more about another app's records adds a ``FactSource`` (scoring adds a lead's
  acting score and the model's drift state) or a ``Panel`` on the approval page (scoring adds the
  score's reasons).

The executors registry (``approvals.executors``) is its twin on the way out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from approvals.changes import FieldChange, proposed_changes

#: How a proposal names its record: our id, or the (source system, its external id) pair.
TargetRef = int | tuple[str, str]
#: Policy facts per action id (``approvals.policy.ActionFacts`` field → value).
Facts = dict[int, dict[str, Any]]


def _no_facts(actions: Sequence[Any]) -> Facts:
    return {}


def _changes(record: Mapping[str, Any], payload: Mapping[str, Any]) -> list[FieldChange]:
    return proposed_changes(record=record, payload=payload)


@dataclass(frozen=True)
class Subject:
    """A kind of record actions act on.

    ``holds(action)`` says, without a query, whether ``action`` acts on a record of this kind;
    ``record_of(action)`` is that record (None when it is gone). ``find(ref)`` is the record a
    proposal names, or None. ``check(kind, payload, record)`` raises ``approvals.targets.
    TargetMismatch`` unless the payload acts on ``record`` alone. ``fields(record)`` is the record
    as the approver sees it now (field → value), and ``changes(fields, payload)`` what the payload
    would change on it. ``facts(actions)`` gives the policy facts of many actions at once, in a
    constant number of queries.
    """

    name: str
    title: str
    holds: Callable[[Any], bool]
    record_of: Callable[[Any], Any]
    fields: Callable[[Any], dict[str, Any]]
    find: Callable[[TargetRef], Any] | None = None
    check: Callable[[str, Mapping[str, Any], Any], None] | None = None
    changes: Callable[[Mapping[str, Any], Mapping[str, Any]], list[FieldChange]] = _changes
    facts: Callable[[Sequence[Any]], Facts] = _no_facts


@dataclass(frozen=True)
class FactSource:
    """Policy facts another app knows about actions (``facts(actions)``: per action id; an action
    it knows nothing of is left out), added to its subject's own."""

    name: str
    facts: Callable[[Sequence[Any]], Facts]


@dataclass(frozen=True)
class Panel:
    """A section of the approval page about an action's record: ``render(action)`` is its HTML,
    or "" when it has nothing to show."""

    name: str
    subject: str
    render: Callable[[Any], str]


_SUBJECTS: dict[str, Subject] = {}
_FACT_SOURCES: dict[str, FactSource] = {}
_PANELS: dict[str, Panel] = {}


def subject_register(subject: Subject) -> Subject:
    """Register ``subject``; a second registration of its name by someone else is a configuration error."""
    held = _SUBJECTS.get(subject.name)
    if held is not None and held != subject:
        raise ImproperlyConfigured(f"the subject {subject.name!r} is registered already")
    _SUBJECTS[subject.name] = subject
    return subject


def fact_source_register(source: FactSource) -> FactSource:
    _FACT_SOURCES[source.name] = source
    return source


def panel_register(panel: Panel) -> Panel:
    _PANELS[panel.name] = panel
    return panel


def subject_named(name: str) -> Subject:
    """The subject registered as ``name``; ``LookupError`` if none is."""
    try:
        return _SUBJECTS[name]
    except KeyError:
        raise LookupError(f"no subject {name!r} is registered") from None


def subject_of(action: Any) -> Subject | None:
    """The subject ``action`` acts on, or None (it acts on no record)."""
    return next((s for s in _SUBJECTS.values() if s.holds(action)), None)


def policy_facts(actions: Sequence[Any]) -> Facts:
    """The policy facts of ``actions`` from their subjects and every fact source, by action id."""
    facts: Facts = {action.pk: {} for action in actions}
    by_subject: dict[str, list[Any]] = {}
    for action in actions:
        subject = subject_of(action)
        if subject is not None:
            by_subject.setdefault(subject.name, []).append(action)
    providers = [(_SUBJECTS[name].facts, group) for name, group in by_subject.items()]
    providers += [(source.facts, list(actions)) for source in _FACT_SOURCES.values()]
    for provide, group in providers:
        for action_id, found in provide(group).items():
            facts[action_id].update(found)
    return facts


def panels_render(action: Any) -> list[str]:
    """The HTML of every panel about ``action``'s record, in registration order (empty ones left out)."""
    subject = subject_of(action)
    if subject is None:
        return []
    rendered = (panel.render(action) for panel in _PANELS.values() if panel.subject == subject.name)
    return [html for html in rendered if html]
