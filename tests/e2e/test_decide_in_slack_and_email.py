"""Deciding where approvers work (issue 24): in Slack, through the real ``slack_sdk`` client against our
Slack emulator over HTTP, whose signed interactivity requests reach the live server; and from the
approver's email, through the links the notification really carries. Same guarantees as the web."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connections
from django.utils import timezone

from approvals.models import Decision, ProposedAction
from approvals.services import action_approve
from audit.models import DecisionLogEntry
from notifications.models import NotificationSettings, SlackCard, SlackChannelRoute, SlackUserLink
from notifications.services import notifications_send_pending
from notifications.slack.sandbox import SlackSandbox
from notifications.slack.services import slack_cards_post_pending
from tests.factories import ProposedActionFactory, UserFactory, payload_seen, user_in_role

os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")
pytestmark = pytest.mark.django_db(transaction=True)

CHANNEL = "C0SDRMGRS"
SIGNING_SECRET = "e2e-signing-secret"
BOT_TOKEN = "xoxb-e2e-token"


@pytest.fixture
def server(live_server):
    """The live server sharing the test's in-memory SQLite connection (pytest-django's session-wide
    server starts before the test database exists, so its threads would otherwise open their own)."""
    overrides = live_server.thread.connections_override
    connection = connections["default"]
    shared = connection.vendor == "sqlite" and connection.is_in_memory_db() and "default" not in overrides
    if shared:
        connection.inc_thread_sharing()
        overrides["default"] = connection
    yield live_server
    time.sleep(0.05)  # let the last request thread finish with the connection
    if shared:
        del overrides["default"]
        connection.dec_thread_sharing()


@pytest.fixture
def slack(settings):
    app = SlackSandbox(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    from connectors.sandbox.server import start_sandbox

    running = start_sandbox(app)
    settings.SLACK_BOT_TOKEN = BOT_TOKEN
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.SLACK_API_URL = running.url + "/api/"
    try:
        yield app
    finally:
        running.stop()


@pytest.fixture
def managers(db):
    sofia = user_in_role("SDR managers", username="sofia", email="sofia@example.com")
    liam = user_in_role("SDR managers", username="liam", email="liam@example.com")
    return sofia, liam


@pytest.fixture
def routed(managers, slack):
    """SDR managers' items go to their channel; both managers are in the Slack workspace."""
    group = managers[0].groups.get()
    SlackChannelRoute.objects.create(group=group, channel_id=CHANNEL)
    slack.add_user("U0SOFIA", email="sofia@example.com")
    slack.add_user("U0LIAM", email="liam@example.com")
    NotificationSettings.objects.update_or_create(
        singleton=True, defaults={"base_url": "https://agentops.example.com"}
    )
    return group


def _pending(group, **fields):
    return ProposedActionFactory(
        status="pending_approval",
        approver_group=group,
        rationale="Asked for pricing twice this week.",
        confidence=0.72,
        policy_reasons=["Low confidence", "Deal value above 50,000"],
        payload={"cadence": "Inbound hot"},
        **fields,
    )


def _endpoint(server) -> str:
    return server.url + "/notifications/slack/interactivity/"


def _card(slack):
    (card,) = slack.messages_in(CHANNEL)
    return card


def _text(card) -> str:
    return str(card["blocks"])


def _status(action) -> str:
    return ProposedAction.objects.values_list("status", flat=True).get(pk=action.pk)


def _log(action):
    return DecisionLogEntry.objects.filter(subject_id=str(action.pk), event_type="action.decided")


# Slack -------------------------------------------------------------------------------------------


def test_a_manager_approves_in_slack_once_and_the_stale_card_refuses_the_next_naming_the_decider(
    server, slack, routed
):
    action = _pending(routed, risk_level="medium")

    assert slack_cards_post_pending().posted == 1
    card = _card(slack)
    shown = _text(card)
    for fact in (
        "Asked for pricing twice this week.",
        "0.72",
        "medium",
        "Low confidence",
        "cadence",
        "Inbound hot",
    ):
        assert fact in shown
    assert slack.calls_of("chat.postMessage")[0]["channel"] == CHANNEL
    stale = card["blocks"]

    pressed = slack.click(
        _endpoint(server), user_id="U0SOFIA", channel=CHANNEL, ts=card["ts"], action_id="approve"
    )

    assert pressed.status == 200
    assert _status(action) == "approved"
    assert Decision.objects.filter(action=action).count() == 1
    entry = _log(action).get()
    assert (entry.approval["channel"], entry.approval["approver"]) == ("slack", "sofia")
    updated = slack.message(CHANNEL, card["ts"])
    assert updated["updates"] == 1 and "Approved by *sofia*" in _text(updated)
    assert "'action_id': 'approve'" not in _text(updated)

    second = slack.click(
        _endpoint(server), user_id="U0LIAM", channel=CHANNEL, ts=card["ts"], action_id="approve", blocks=stale
    )

    assert second.status == 200
    assert Decision.objects.filter(action=action).count() == 1 and _log(action).count() == 1
    (told,) = slack.ephemerals_for("U0LIAM")
    assert f"Item #{action.pk} was already approved by sofia" in told


def test_posting_twice_posts_each_card_once(server, slack, routed):
    _pending(routed)
    assert slack_cards_post_pending().posted == 1
    assert slack_cards_post_pending().posted == 0
    assert len(slack.calls_of("chat.postMessage")) == 1 and SlackCard.objects.count() == 1


@pytest.mark.parametrize(
    "signing",
    [{"secret": "not-the-signing-secret"}, {"timestamp": int(time.time()) - 6 * 60}],
    ids=["forged", "stale"],
)
def test_a_forged_or_stale_slack_signature_is_refused(server, slack, routed, signing):
    action = _pending(routed)
    slack_cards_post_pending()
    card = _card(slack)

    answer = slack.click(
        _endpoint(server), user_id="U0SOFIA", channel=CHANNEL, ts=card["ts"], action_id="approve", **signing
    )

    assert answer.status == 401
    assert _status(action) == "pending_approval" and not Decision.objects.exists()
    assert slack.calls_of("users.info") == [] and slack.calls_of("chat.update") == []


def test_a_high_risk_item_cannot_be_approved_from_slack_when_reauthentication_is_required(
    server, slack, routed, settings
):
    settings.REAUTH_RISK_LEVELS = ["high", "critical"]
    action = _pending(routed, risk_level="high")
    slack_cards_post_pending()
    card = _card(slack)
    shown = _text(card)
    assert "'action_id': 'approve'" not in shown and "'action_id': 'edit'" not in shown
    assert "needs your password" in shown and f"https://agentops.example.com/approvals/{action.pk}/" in shown

    # A crafted press of an Approve button the card never showed (the value of its Reject button).
    reject = next(
        e
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "reject"
    )
    crafted = [{"type": "actions", "block_id": "decide", "elements": [{**reject, "action_id": "approve"}]}]
    answer = slack.click(
        _endpoint(server),
        user_id="U0SOFIA",
        channel=CHANNEL,
        ts=card["ts"],
        action_id="approve",
        blocks=crafted,
    )

    assert answer.status == 200 and _status(action) == "pending_approval"
    (told,) = slack.ephemerals_for("U0SOFIA")
    assert "needs your password" in told and f"/approvals/{action.pk}/" in told


def test_reject_opens_a_modal_with_reason_and_comment_and_rejects(server, slack, routed):
    action = _pending(routed)
    slack_cards_post_pending()
    card = _card(slack)

    slack.click(_endpoint(server), user_id="U0LIAM", channel=CHANNEL, ts=card["ts"], action_id="reject")
    modal = slack.opened_view()
    assert modal["callback_id"] == "reject" and _status(action) == "pending_approval"

    missing = slack.submit(
        _endpoint(server), user_id="U0LIAM", view_id=modal["id"], values={"reason": "other"}
    )
    assert missing.json()["response_action"] == "errors" and "comment" in missing.json()["errors"]
    done = slack.submit(
        _endpoint(server),
        user_id="U0LIAM",
        view_id=modal["id"],
        values={"reason": "bad_timing", "comment": "Q4"},
    )

    assert done.status == 200 and done.body == b""
    assert _status(action) == "rejected"
    assert _log(action).get().approval == {
        "approver": "liam",
        "decision": "reject",
        "reason_code": "bad_timing",
        "channel": "slack",
    }
    assert "Rejected by *liam*" in _text(slack.message(CHANNEL, card["ts"]))


def test_edit_opens_the_kinds_fields_validates_them_and_approves_the_edit(server, slack, routed):
    action = _pending(routed)
    slack_cards_post_pending()
    card = _card(slack)

    slack.click(_endpoint(server), user_id="U0SOFIA", channel=CHANNEL, ts=card["ts"], action_id="edit")
    modal = slack.opened_view()
    assert [b["block_id"] for b in modal["blocks"] if b["type"] == "input"] == ["f__cadence", "comment"]

    refused = slack.submit(
        _endpoint(server), user_id="U0SOFIA", view_id=modal["id"], values={"f__cadence": ""}
    )
    assert list(refused.json()["errors"]) == ["f__cadence"] and _status(action) == "pending_approval"
    done = slack.submit(
        _endpoint(server), user_id="U0SOFIA", view_id=modal["id"], values={"f__cadence": "Nurture"}
    )

    assert done.status == 200 and _status(action) == "approved"
    decision = Decision.objects.get(action=action)
    assert decision.outcome == "edit_approve" and decision.final_payload == {"cadence": "Nurture"}
    assert _log(action).get().approval["channel"] == "slack"


def test_a_decision_on_the_web_updates_the_card_in_place(server, slack, routed, managers):
    action = _pending(routed)
    slack_cards_post_pending()
    card = _card(slack)

    action_approve(action_id=action.pk, user=managers[1], seen_payload_sha256=payload_seen(action))

    assert "Approved by *liam*" in _text(slack.message(CHANNEL, card["ts"]))
    assert SlackCard.objects.get().decided


def test_a_slack_user_is_mapped_by_email_on_first_use_and_a_mismatch_is_refused(
    server, slack, routed, managers
):
    action = _pending(routed)
    slack_cards_post_pending()
    card = _card(slack)
    slack.add_user("U0STRANGER", email="stranger@elsewhere.example")
    # An admin linked this Slack user to liam, but its profile's email is someone else's.
    slack.add_user("U0IMPOSTOR", email="impostor@example.com")
    SlackUserLink.objects.create(slack_user_id="U0IMPOSTOR", user=managers[1])

    for user_id in ("U0STRANGER", "U0IMPOSTOR"):
        slack.click(_endpoint(server), user_id=user_id, channel=CHANNEL, ts=card["ts"], action_id="approve")
    assert _status(action) == "pending_approval"
    assert "not linked" in slack.ephemerals_for("U0STRANGER")[0]
    assert "does not match" in slack.ephemerals_for("U0IMPOSTOR")[0]

    slack.click(_endpoint(server), user_id="U0SOFIA", channel=CHANNEL, ts=card["ts"], action_id="approve")
    assert SlackUserLink.objects.get(slack_user_id="U0SOFIA").user == managers[0]
    assert _status(action) == "approved"


def test_a_manager_of_another_team_cannot_decide_from_the_card(server, slack, routed):
    action = _pending(routed)
    slack_cards_post_pending()
    card = _card(slack)
    UserFactory(username="sam", email="sam@example.com")  # in no approver role
    slack.add_user("U0SAM", email="sam@example.com")

    slack.click(_endpoint(server), user_id="U0SAM", channel=CHANNEL, ts=card["ts"], action_id="approve")

    assert _status(action) == "pending_approval"
    assert f"You may not decide item #{action.pk}" in slack.ephemerals_for("U0SAM")[0]


def test_a_group_without_a_channel_gets_a_direct_message_each_linked_by_email(server, slack, managers):
    group = managers[0].groups.get()
    SlackChannelRoute.objects.create(group=group, channel_id="")
    slack.add_user("U0SOFIA", email="sofia@example.com")  # liam has no Slack account
    action = _pending(group)

    assert slack_cards_post_pending().posted == 1

    looked_up = sorted(c["email"] for c in slack.calls_of("users.lookupByEmail"))
    assert looked_up == ["liam@example.com", "sofia@example.com"]
    assert slack_cards_post_pending().posted == 0 and len(slack.calls_of("users.lookupByEmail")) == 2
    assert SlackUserLink.objects.get().user == managers[0]
    (card,) = slack.messages_in("D0SOFIA")
    slack.click(_endpoint(server), user_id="U0SOFIA", channel="D0SOFIA", ts=card["ts"], action_id="approve")
    assert _status(action) == "approved" and "Approved by *sofia*" in _text(
        slack.message("D0SOFIA", card["ts"])
    )


# Email -------------------------------------------------------------------------------------------


def _links(message) -> tuple[str, str]:
    approve = re.search(r"Approve: https://agentops\.example\.com(/notifications/decide/\S+/)", message.body)
    reject = re.search(r"Reject:  https://agentops\.example\.com(/notifications/decide/\S+/)", message.body)
    assert approve and reject
    return approve.group(1), reject.group(1)


def _mail_to(address):
    return next(m for m in mail.outbox if m.to == [address])


@pytest.fixture
def emailed(managers):
    """Every pending item is announced (risk at least low)."""
    NotificationSettings.objects.update_or_create(
        singleton=True,
        defaults={"base_url": "https://agentops.example.com", "high_priority_risk_at_least": "low"},
    )
    return managers[0].groups.get()


def test_an_email_link_approves_once_and_its_second_use_is_refused(client, emailed):
    action = _pending(emailed, risk_level="low")
    notifications_send_pending()
    approve, _ = _links(_mail_to("sofia@example.com"))

    assert client.get(approve).status_code == 200 and _status(action) == "pending_approval"
    assert client.post(approve).status_code == 200
    assert _status(action) == "approved"
    assert _log(action).get().approval["channel"] == "email"

    again = client.post(approve)
    assert again.status_code == 410 and b"used already" in again.content
    assert Decision.objects.filter(action=action).count() == 1


def test_an_expired_email_link_is_refused(client, emailed):
    action = _pending(emailed, risk_level="low")
    notifications_send_pending(now=timezone.now() - timedelta(hours=49))  # links work 48 hours
    approve, _ = _links(_mail_to("sofia@example.com"))

    refused = client.post(approve)
    assert refused.status_code == 410 and b"expired" in refused.content
    assert _status(action) == "pending_approval"


def test_an_email_link_for_a_payload_changed_since_is_refused(client, emailed, managers):
    action = _pending(emailed, risk_level="low", required_approvals=2)
    notifications_send_pending()
    approve, _ = _links(_mail_to("sofia@example.com"))
    action_approve(
        action_id=action.pk,
        user=managers[1],
        seen_payload_sha256=payload_seen(action),
        edits={"cadence": "Nurture"},
    )

    refused = client.post(approve)
    assert refused.status_code == 409 and b"cadence" in refused.content
    assert Decision.objects.filter(action=action).count() == 1
