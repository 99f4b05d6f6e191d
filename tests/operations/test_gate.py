"""The admission rules: kill switches by scope, agent families, quotas with their windows."""

from datetime import UTC, datetime, timedelta

import pytest

from operations.gate import Quota, Switch, Work, admit, agent_names, blocking_switch

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
WORK = Work(kind="send_email", connector="HubSpot prod", agent="sdr-agent:cadences", sdr="sam")


def check(switches=(), quotas=(), used=None, work=WORK):
    return admit(work, switches=switches, quotas=quotas, used=used or {}, now=NOW)


def test_nothing_engaged_admits():
    assert check().allowed


@pytest.mark.parametrize(
    "switch",
    [
        Switch("global"),
        Switch("connector", "HubSpot prod"),
        Switch("action_kind", "send_email"),
        Switch("agent", "sdr-agent"),
        Switch("agent", "sdr-agent:cadences"),
    ],
)
def test_each_scope_of_switch_holds_the_work_it_covers(switch):
    result = check(switches=[switch])
    assert not result.allowed
    assert (result.hold, result.retry_at) == ("switch", None)
    assert switch.scope in result.reason


@pytest.mark.parametrize(
    "switch",
    [
        Switch("connector", "Salesforce prod"),
        Switch("action_kind", "create_task"),
        Switch("agent", "support-bot"),
        Switch("agent", "sdr-agent:playbooks"),
    ],
)
def test_a_switch_leaves_work_outside_its_scope_alone(switch):
    assert check(switches=[switch]).allowed


def test_a_connector_switch_does_not_hold_work_through_no_connection():
    assert check(switches=[Switch("connector", "HubSpot prod")], work=Work(kind="enrol_cadence")).allowed


def test_the_global_switch_is_reported_first_with_its_reason():
    found = blocking_switch([Switch("agent", "sdr-agent"), Switch("global", "", "incident 7")], WORK)
    assert found == Switch("global", "", "incident 7")
    assert "incident 7" in check(switches=[Switch("global", "", "incident 7")]).reason


def test_agent_names():
    assert agent_names("sdr-agent:cadences") == {"sdr-agent:cadences", "sdr-agent"}
    assert agent_names("") == set()


def test_a_quota_holds_the_excess_until_the_window_has_room():
    quota = Quota(1, "action_kind", "hour", 2)
    used = {(1, "action_kind:send_email"): [NOW - timedelta(minutes=50), NOW - timedelta(minutes=10)]}
    result = check(quotas=[quota], used=used)
    assert (result.allowed, result.hold) == (False, "quota")
    assert result.retry_at == NOW + timedelta(minutes=10)
    assert "2 per hour" in result.reason


def test_a_quota_ignores_uses_outside_its_window_and_other_keys():
    quota = Quota(1, "action_kind", "hour", 2)
    used = {
        (1, "action_kind:send_email"): [NOW - timedelta(minutes=70), NOW - timedelta(minutes=10)],
        (1, "action_kind:create_task"): [NOW] * 5,
    }
    assert check(quotas=[quota], used=used).allowed


def test_a_targeted_quota_covers_only_its_target():
    sam_only = Quota(2, "sdr", "day", 1, target="sam")
    used = {(2, "sdr:sam"): [NOW - timedelta(hours=3)]}
    assert not check(quotas=[sam_only], used=used).allowed
    assert check(quotas=[sam_only], used=used, work=Work(kind="send_email", sdr="kim")).allowed
    assert check(quotas=[sam_only], used=used, work=Work(kind="send_email")).allowed  # no SDR: not counted


def test_switches_win_over_quotas():
    result = check(switches=[Switch("global")], quotas=[Quota(1, "action_kind", "hour", 1)])
    assert result.hold == "switch"
