"""The executors registry: which part of AgentOps carries out an approved action of each kind.

Every approved action leaves the approval stage through one outbox (``connectors.execution``, the
only poller): a worker leases a batch of due executions and hands each to the executor registered
for its kind. Apps register in their ``AppConfig.ready()``; nothing else names them:

- ``sales`` registers ``enrol_cadence`` (the lead joins one of our own cadences),
- ``operations`` registers ``config_change`` (change control applies an approved change),
- ``connectors`` registers every kind that goes to a system outside (CRM, helpdesk, mail), the
  handoff (a group change and a note in the helpdesk) among them.

An executor is one of two shapes:

``InDatabase``
    Its whole effect is rows in our own database. ``execute(actions, now)`` runs inside the outbox's
    transaction, after the outbox has locked the executions and checked they are still leased to
    this worker, and returns one ``Outcome`` per action; the outbox settles them in that same
    transaction. A worker whose lease ran out writes nothing: its transaction never commits the
    effect without the settlement, or the other way round.

``Outside``
    Its effect is a call to another system, which cannot join our transaction.
    ``run(executions, token)`` gets leased execution ids and carries them out itself through the
    lifecycle services (``approvals.services.actions_start`` / ``actions_settle``): it starts each action before the call and settles
    it after, both fenced by the lease token.

Before an execution starts, the outbox asks every registered **gate** (``gate_register``) whether it
may start now, in the transaction that starts it: operations registers the kill switches and
quotas. Before it prepares a message, it asks every **veto** (``veto_register``) whether it must
not go out at all: privacy registers consent, connectors the outcome fields and the SMS provider
(a veto may also answer per kind, ``kind_refusals``: proposers of many ask it once and propose
nothing it refuses). The outbox knows neither. A decision callback to the
submitting agent asks every **callback gate** (``callback_gate_register``) the same way before it is
sent: operations registers the kill switches that hold callbacks.

Kinds nobody registers (``flag_for_review``, ``account_lookup``: they change
our own queues or only read) are never given an execution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Outcome:
    """What an executor did with one action: ``status`` is executed, failed or cancelled (the
    action ends), or ``held`` (it waits until ``due_at``, e.g. behind a kill switch)."""

    action_id: int
    status: str
    detail: str = ""
    due_at: datetime | None = None

    @property
    def held(self) -> bool:
        return self.status == "held"


@dataclass(frozen=True)
class InDatabase:
    """An executor whose effect is our own rows; run inside the outbox's fenced transaction."""

    name: str
    kinds: frozenset[str]
    execute: Callable[[Sequence[Any], datetime], list[Outcome]]
    #: The decision-log actor of its settlements.
    actor: str


@dataclass(frozen=True)
class Outside:
    """An executor that calls another system; it starts and settles its actions itself."""

    name: str
    kinds: frozenset[str]
    run: Callable[..., list[Any]]


Executor = InDatabase | Outside

_BY_KIND: dict[str, Executor] = {}


def executor_register(executor: Executor) -> Executor:
    """Make ``executor`` the one for its kinds; a kind another executor holds is a configuration error."""
    for kind in executor.kinds:
        held = _BY_KIND.get(kind)
        if held is not None and held.name != executor.name:
            raise ImproperlyConfigured(
                f"{kind!r} is executed by {held.name!r}; {executor.name!r} cannot take it"
            )
    for kind in executor.kinds:
        _BY_KIND[kind] = executor
    return executor


def executor_for(kind: str) -> Executor | None:
    """The executor registered for ``kind``, or None: the kind is never executed."""
    return _BY_KIND.get(kind)


def executed_kinds() -> frozenset[str]:
    """Every kind some executor carries out."""
    return frozenset(_BY_KIND)


# Gates and vetoes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hold:
    """Why an execution must wait, and until when (None: the outbox's next look)."""

    reason: str
    until: datetime | None = None


@dataclass(frozen=True)
class Gate:
    """A check every execution passes just before it starts. ``check(actions, targets, started,
    now)`` answers, per action, None (go) or a ``Hold``; ``targets[i]`` is where action ``i`` goes
    (a connection's name), ``started[i]`` whether it has started before (a retry). Run in the
    transaction that starts the work, after ``lock()``, so concurrent workers see each other."""

    name: str
    check: Callable[[Sequence[Any], Sequence[str], Sequence[bool], datetime], list[Hold | None]]
    lock: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class Refusal:
    """One reason a veto gives: ``field`` names the part of the proposal (``payload.fields.x``)."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass(frozen=True)
class Veto:
    """A reason an action must not be carried out at all (``refusals(action)``: each reason, none
    when it may go; a reason's text is ``str(reason)``, and its ``field``, if it has one, names the
    part of the proposal it is about). Asked twice: when the action is proposed (an unsaved action;
    the proposal is refused with ``code``) and again by the outbox just before it goes out (the
    action is cancelled with the reasons): what held at proposal time may not hold any more."""

    name: str
    refusals: Callable[[Any], Sequence[Any]]
    code: str = "vetoed"
    #: For a veto whose answer depends only on the kind and domain (no provider sends the kind):
    #: ``kind_refusals(kind, domain)``, asked once per kind by a proposer of many (a cadence tick).
    kind_refusals: Callable[[str, str], Sequence[Any]] | None = None


@dataclass(frozen=True)
class CallbackGate:
    """A check every decision callback passes just before it is sent: ``hold(agent)`` answers why
    the callback to ``agent`` (the action's ``proposed_by``) must wait now, or "" to send it."""

    name: str
    hold: Callable[[str], str]


_GATES: dict[str, Gate] = {}
_VETOES: dict[str, Veto] = {}
_CALLBACK_GATES: dict[str, CallbackGate] = {}


def gate_register(gate: Gate) -> Gate:
    _GATES[gate.name] = gate
    return gate


def veto_register(veto: Veto) -> Veto:
    _VETOES[veto.name] = veto
    return veto


def gates() -> list[Gate]:
    return list(_GATES.values())


def vetoes() -> list[Veto]:
    return list(_VETOES.values())


def kind_refusals(*, kind: str, domain: str) -> list[Any]:
    """Why no action of ``kind`` in ``domain`` may go out now, whatever its record and payload (the
    vetoes that answer per kind); empty when some may."""
    return [r for veto in _VETOES.values() if veto.kind_refusals for r in veto.kind_refusals(kind, domain)]


def callback_gate_register(gate: CallbackGate) -> CallbackGate:
    _CALLBACK_GATES[gate.name] = gate
    return gate


def callback_hold(*, agent: str) -> str:
    """Why a decision callback to ``agent`` must wait now (the first gate that holds it), or ""."""
    for gate in _CALLBACK_GATES.values():
        reason = gate.hold(agent)
        if reason:
            return reason
    return ""
