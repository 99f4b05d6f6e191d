"""Unit tests for core.statemachine and the two status machines built on it (pure, no database)."""

from __future__ import annotations

import itertools

import pytest

from approvals.choices import ActionStatus
from approvals.states import ACTION_STATES
from core.statemachine import IllegalTransition, StateMachine
from scoring.choices import ModelStatus
from scoring.states import MODEL_STATES

# --- StateMachine -------------------------------------------------------------------------------


@pytest.fixture
def door() -> StateMachine:
    return StateMachine(
        "Door.state",
        {"open": {"closed"}, "closed": {"open", "locked"}, "locked": {"closed"}, "removed": set()},
    )


def test_states_are_the_sources_of_the_transition_table(door):
    assert door.states == frozenset({"open", "closed", "locked", "removed"})


def test_allowed_from_lists_the_targets_of_a_state(door):
    assert door.allowed_from("closed") == frozenset({"open", "locked"})


def test_allowed_from_an_unknown_state_is_empty(door):
    assert door.allowed_from("ajar") == frozenset()


def test_can_is_true_only_for_listed_transitions(door):
    assert door.can("closed", "locked")
    assert not door.can("open", "locked")
    assert not door.can("open", "open")  # staying put is not a transition unless listed
    assert not door.can("ajar", "open")


def test_a_state_without_targets_is_final(door):
    assert door.is_final("removed")
    assert not door.is_final("open")


def test_check_passes_silently_for_an_allowed_transition(door):
    assert door.check("locked", "closed") is None


def test_check_raises_for_a_disallowed_transition_with_a_message_naming_everything(door):
    with pytest.raises(IllegalTransition) as excinfo:
        door.check("open", "locked")
    error = excinfo.value
    assert error.machine == "Door.state"
    assert error.current == "open"
    assert error.target == "locked"
    assert error.allowed == ("closed",)
    assert str(error) == "Door.state: cannot go from 'open' to 'locked'; allowed from 'open': closed."


def test_illegal_transition_lists_several_allowed_states_sorted(door):
    with pytest.raises(IllegalTransition) as excinfo:
        door.check("closed", "removed")
    assert excinfo.value.allowed == ("locked", "open")
    assert "allowed from 'closed': locked, open." in str(excinfo.value)


def test_illegal_transition_from_a_final_state_says_so(door):
    with pytest.raises(IllegalTransition) as excinfo:
        door.check("removed", "open")
    assert excinfo.value.allowed == ()
    assert "none (final state)" in str(excinfo.value)


def test_check_rejects_an_unknown_current_state_even_towards_a_known_state(door):
    with pytest.raises(IllegalTransition) as excinfo:
        door.check("ajar", "open")
    assert excinfo.value.current == "ajar"
    assert excinfo.value.target == "open"
    assert excinfo.value.allowed == ()


def test_construction_rejects_targets_without_an_entry_of_their_own():
    with pytest.raises(
        ValueError, match=r"Broken: targets without an entry of their own: \['ghost', 'limbo'\]"
    ):
        StateMachine("Broken", {"a": {"b", "ghost"}, "b": {"limbo"}})


def test_construction_accepts_a_table_whose_targets_all_have_entries():
    machine = StateMachine("Ok", {"a": ["b"], "b": []})
    assert machine.can("a", "b")
    assert machine.is_final("b")


def test_construction_copies_the_transition_table():
    table = {"a": {"b"}, "b": set()}
    machine = StateMachine("Copy", table)
    table["a"].add("c")
    assert machine.allowed_from("a") == frozenset({"b"})


# --- ProposedAction.status ----------------------------------------------------------------------

# The spec, written out in plain strings (what is stored in the database).
EXPECTED_ACTION_TRANSITIONS: set[tuple[str, str]] = {
    ("proposed", "pending_approval"),
    ("proposed", "approved"),
    ("proposed", "rejected"),
    ("proposed", "cancelled"),
    ("pending_approval", "approved"),
    ("pending_approval", "rejected"),
    ("pending_approval", "expired"),
    ("pending_approval", "cancelled"),
    ("approved", "executing"),
    ("approved", "cancelled"),
    ("executing", "executed"),
    ("executing", "failed"),
    ("failed", "executing"),
    ("failed", "cancelled"),
}
ACTION_FINAL = {"executed", "rejected", "expired", "cancelled"}

ACTION_VALUES = [str(v) for v in ActionStatus.values]


def test_action_machine_covers_exactly_the_action_statuses():
    assert {str(s) for s in ACTION_STATES.states} == set(ACTION_VALUES)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ACTION_VALUES, repeat=2)))
def test_action_transition_is_allowed_exactly_when_the_spec_lists_it(current, target):
    expected = (current, target) in EXPECTED_ACTION_TRANSITIONS
    assert ACTION_STATES.can(current, target) is expected
    if expected:
        ACTION_STATES.check(current, target)
    else:
        with pytest.raises(IllegalTransition):
            ACTION_STATES.check(current, target)


@pytest.mark.parametrize("status", ACTION_VALUES)
def test_action_final_statuses_are_exactly_executed_rejected_expired_cancelled(status):
    assert ACTION_STATES.is_final(status) is (status in ACTION_FINAL)


def test_an_approved_action_may_only_start_executing_or_be_cancelled():
    assert ACTION_STATES.allowed_from("approved") == {"executing", "cancelled"}


def test_an_approved_action_cannot_jump_straight_to_executed():
    with pytest.raises(IllegalTransition) as excinfo:
        ACTION_STATES.check("approved", "executed")
    assert str(excinfo.value) == (
        "ProposedAction.status: cannot go from 'approved' to 'executed'; "
        "allowed from 'approved': cancelled, executing."
    )


# --- ModelVersion.status ------------------------------------------------------------------------

EXPECTED_MODEL_TRANSITIONS: set[tuple[str, str]] = {
    ("candidate", "shadow"),
    ("candidate", "canary"),
    ("candidate", "champion"),
    ("candidate", "retired"),
    ("shadow", "canary"),
    ("shadow", "champion"),
    ("shadow", "retired"),
    ("canary", "shadow"),
    ("canary", "champion"),
    ("canary", "retired"),
    ("champion", "retired"),
    ("retired", "champion"),  # rollback only
}

MODEL_VALUES = [str(v) for v in ModelStatus.values]


def test_model_machine_covers_exactly_the_model_statuses():
    assert {str(s) for s in MODEL_STATES.states} == set(MODEL_VALUES)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(MODEL_VALUES, repeat=2)))
def test_model_transition_is_allowed_exactly_when_the_spec_lists_it(current, target):
    expected = (current, target) in EXPECTED_MODEL_TRANSITIONS
    assert MODEL_STATES.can(current, target) is expected
    if expected:
        MODEL_STATES.check(current, target)
    else:
        with pytest.raises(IllegalTransition):
            MODEL_STATES.check(current, target)


def test_no_model_status_is_final():
    assert not any(MODEL_STATES.is_final(s) for s in MODEL_VALUES)


def test_a_retired_model_only_goes_back_to_champion():
    assert MODEL_STATES.allowed_from("retired") == {"champion"}


def test_a_champion_can_only_be_retired():
    with pytest.raises(IllegalTransition) as excinfo:
        MODEL_STATES.check("champion", "canary")
    assert excinfo.value.machine == "ModelVersion.status"
    assert excinfo.value.allowed == ("retired",)
