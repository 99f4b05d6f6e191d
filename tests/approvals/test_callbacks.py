"""Decision callbacks: signing, URL rules, back-off, and real delivery to a receiver on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Schedule

from agentops_client import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify, verify_callback
from approvals.callbacks import (
    FAILED,
    CallbackFailed,
    CallbackUrlRefused,
    address_is_public,
    callback_body,
    callback_post,
    callback_url_check,
    retry_delay,
)
from approvals.models import ProposedAction
from approvals.services import (
    Settled,
    action_approve,
    action_callback_deliver,
    action_reject,
    action_route,
    actions_cancel_unsent,
    actions_escalate_overdue,
    actions_settle_many,
)
from security.services import apikey_create, apikey_revoke
from tests.callback_receiver import CallbackReceiver
from tests.factories import ProposedActionFactory, UserFactory, payload_seen, user_in_role

SECRET = "test-callback-secret-0123456789abcdef"
PUBLIC = "93.184.216.34"


def _dns(*addresses):
    """A resolver that answers ``addresses`` for any name (no real DNS in tests)."""
    return lambda host, port: list(addresses)


# --- Pure parts --------------------------------------------------------------------------------


def test_it_signs_timestamp_dot_body_and_verifies_only_the_exact_bytes():
    body = b'{"action_id":1,"status":"approved"}'
    signature = sign(body=body, timestamp=1_700_000_000, secret=SECRET)
    assert signature.startswith("sha256=") and len(signature) == len("sha256=") + 64
    ok = dict(body=body, timestamp="1700000000", signature=signature, secret=SECRET, now=1_700_000_010)
    assert verify(**ok)
    assert not verify(**{**ok, "body": body + b" "})
    assert not verify(**{**ok, "secret": SECRET + "x"})
    assert not verify(**{**ok, "timestamp": "1700000001"})
    assert not verify(**{**ok, "signature": signature.upper()})
    assert not verify(**{**ok, "signature": "sha256=é"})
    assert not verify(**{**ok, "timestamp": "yesterday"})


def test_it_refuses_a_callback_older_or_further_ahead_than_max_age():
    body, sent = b"{}", 1_700_000_000
    signature = sign(body=body, timestamp=sent, secret=SECRET)
    check = dict(body=body, timestamp=sent, signature=signature, secret=SECRET, max_age=300)
    assert verify(**check, now=sent + 300) and verify(**check, now=sent - 300)
    assert not verify(**check, now=sent + 301)
    assert not verify(**check, now=sent - 301)


def test_it_refuses_to_sign_with_an_empty_secret():
    with pytest.raises(ValueError, match="empty secret"):
        sign(body=b"{}", timestamp=1, secret="")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("https:///hook", "must name a host"),
        ("https://user:pw@example.com/hook", "must not carry credentials"),
    ],
)
def test_it_refuses_callback_urls_that_are_not_plain_http(url, reason):
    with pytest.raises(ValueError, match=reason):
        callback_url_check(url)


def test_it_limits_callback_hosts_when_an_allow_list_is_set():
    allowed = ["hooks.example.com", " .agents.example.org "]
    dns = _dns(PUBLIC)
    assert callback_url_check("https://hooks.example.com/x", allowed_hosts=allowed, resolve=dns)
    assert callback_url_check("https://eu.agents.example.org/x", allowed_hosts=allowed, resolve=dns)
    assert callback_url_check("https://hooks.example.com./x", allowed_hosts=allowed, resolve=dns)
    with pytest.raises(ValueError, match="'evil.com' is not in AGENTOPS_CALLBACK_HOSTS"):
        callback_url_check("https://evil.com/x", allowed_hosts=allowed, resolve=dns)
    with pytest.raises(ValueError, match="not in AGENTOPS_CALLBACK_HOSTS"):
        callback_url_check("https://notexample.com/x", allowed_hosts=["example.com"], resolve=dns)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.31.255.255", "192.168.0.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "255.255.255.255", "224.0.0.251", "192.0.2.1", "198.18.0.1", "240.0.0.1",  # noqa: S104 - refused, not bound
        "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
        "64:ff9b::7f00:1", "64:ff9b:1::1", "2002:a00:1::", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:db8::1", "not-an-address",
    ],
)  # fmt: skip
def test_it_counts_no_internal_or_reserved_address_as_public(address):
    assert not address_is_public(address)


@pytest.mark.parametrize(
    "address",
    [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::"],
)
def test_it_counts_global_unicast_addresses_as_public(address):
    assert address_is_public(address)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://2130706433/", "four decimal numbers"),
        ("http://0x7f000001/", "four decimal numbers"),
        ("http://0x7f.1/", "four decimal numbers"),
        ("http://0177.0.0.1/", "four decimal numbers"),
        ("http://127.1/", "four decimal numbers"),
        ("http://bücher.example/", "ASCII"),
        ("http://exa_mple.com/", "not a valid host name"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://a@example.com/", "credentials"),
        ("http://example.com\\@evil/", "credentials"),
    ],
)
def test_it_refuses_hosts_that_parsers_read_differently(url, reason):
    with pytest.raises(CallbackUrlRefused, match=reason):
        callback_url_check(url, resolve=_dns(PUBLIC))


def test_it_resolves_the_host_and_refuses_if_any_address_is_not_public():
    assert callback_url_check("https://hooks.example.com/x", resolve=_dns(PUBLIC)).addresses == (PUBLIC,)
    for answer in (["127.0.0.1"], [PUBLIC, "10.0.0.1"], [PUBLIC, "::1"], []):
        with pytest.raises(CallbackUrlRefused, match="is not an allowed public address"):
            callback_url_check("https://hooks.example.com/x", resolve=_dns(*answer))

    def unknown(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(CallbackUrlRefused, match="is not an allowed public address"):
        callback_url_check("https://hooks.example.com/x", resolve=unknown)


def test_only_a_host_named_exactly_in_the_allow_list_may_be_local():
    local = _dns("127.0.0.1")
    named = callback_url_check("http://receiver.test/x", allowed_hosts=["receiver.test"], resolve=local)
    assert named.addresses == ("127.0.0.1",)
    assert callback_url_check("http://[::1]:8/x", allowed_hosts=["[::1]"]).addresses == ("::1",)
    with pytest.raises(CallbackUrlRefused, match="public address"):
        callback_url_check("http://a.receiver.test/x", allowed_hosts=["receiver.test"], resolve=local)
    with pytest.raises(CallbackUrlRefused, match="public address"):
        callback_url_check("http://127.0.0.1/x")


def test_it_takes_only_https_when_asked():
    with pytest.raises(CallbackUrlRefused, match="must be an https URL"):
        callback_url_check("http://hooks.example.com/x", require_https=True, resolve=_dns(PUBLIC))
    assert callback_url_check("https://hooks.example.com/x", require_https=True, resolve=_dns(PUBLIC))


def test_it_backs_off_exponentially_up_to_an_hour():
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(20) == 3600
    with pytest.raises(ValueError, match="counts from 1"):
        retry_delay(0)


def test_it_builds_the_same_bytes_for_the_same_decision():
    kwargs = dict(
        action_id=7, kind="send_email", status="approved", decided_at=None, approved_payload_sha256="ab",
        payload={"b": 1, "a": 2}, decisions=[], correlation_id="c", idempotency_key="k",
    )  # fmt: skip
    body = callback_body(**kwargs)
    assert body == callback_body(**{**kwargs, "payload": {"a": 2, "b": 1}})
    assert json.loads(body)["event"] == "action.decided"


# --- Delivery to a real receiver on 127.0.0.1 --------------------------------------------------


@pytest.fixture
def receiver():
    with CallbackReceiver() as server:
        yield server


@pytest.fixture
def callback_settings(settings):
    settings.AGENTOPS_CALLBACKS = True
    settings.AGENTOPS_CALLBACK_HOSTS = ["127.0.0.1"]  # a developer's local receiver, named
    settings.AGENTOPS_CALLBACK_TIMEOUT = 2.0
    settings.AGENTOPS_CALLBACK_MAX_ATTEMPTS = 3
    return settings


@pytest.fixture
def integration(db):
    """An integration account and its key; callbacks of what it proposes are signed with its secret."""
    user = user_in_role("Integration accounts", username="crm-agent")
    return apikey_create(user=user, name="CRM agent", scopes=["submit_actions"])


def _pending_with_callback(url, **overrides):
    from security.models import ApiKey

    key = ApiKey.objects.filter(name="CRM agent").first()
    overrides.setdefault("proposed_by_user", key.user if key else None)
    action = ProposedActionFactory(callback_url=url, **overrides)
    return action_route(action_id=action.pk)


@pytest.mark.django_db
def test_it_delivers_a_signed_callback_the_client_can_verify(receiver, callback_settings, integration):
    action = _pending_with_callback(receiver.url, payload={"cadence": "Inbound hot", "steps": 7})
    approver = UserFactory(username="sofia")
    action_approve(
        action_id=action.pk,
        user=approver,
        seen_payload_sha256=payload_seen(action.pk),
        edits={"steps": 5},
        comment="shorter",
    )

    assert action_callback_deliver(action_id=action.pk) == "delivered"

    headers, body = receiver.requests[-1]
    signed = dict(body=body, timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER])
    assert verify_callback(**signed, secret=integration.callback_secret)
    assert not verify_callback(**signed, secret=SECRET)
    sent = json.loads(body)
    stored = ProposedAction.objects.get(pk=action.pk)
    assert (sent["action_id"], sent["status"], sent["payload"]) == (action.pk, "approved", stored.payload)
    assert sent["approved_payload_sha256"] == stored.approved_payload_sha256
    assert sent["decisions"][-1]["decided_by"] == "sofia"
    assert sent["decisions"][-1]["payload_diff"] == {"steps": {"from": 7, "to": 5}}
    assert stored.callback_attempts == 1 and stored.callback_delivered_at is not None
    assert stored.callback_last_error == ""


@pytest.mark.django_db
def test_it_records_a_failed_attempt_and_schedules_a_retry_with_back_off(
    receiver, callback_settings, integration, caplog
):
    receiver.status = 500
    action = _pending_with_callback(receiver.url)
    action_reject(action_id=action.pk, user=UserFactory(), reason_code="bad_timing")

    assert action_callback_deliver(action_id=action.pk, attempt=1) == "retrying"

    stored = ProposedAction.objects.get(pk=action.pk)
    assert stored.callback_attempts == 1 and stored.callback_delivered_at is None
    assert stored.callback_last_error == FAILED  # the agent reads this; the reason is logged
    assert "HTTP 500 from the receiver" in caplog.text
    retry = Schedule.objects.get(func="approvals.tasks.callback_deliver_task")
    assert (retry.schedule_type, retry.args) == (Schedule.ONCE, f"({action.pk}, 2, 'rejected')")
    assert timedelta(seconds=25) < retry.next_run - stored.updated_at < timedelta(seconds=40)


@pytest.mark.django_db
def test_it_gives_up_after_the_last_attempt(receiver, callback_settings, integration, caplog):
    receiver.status = 410
    action = _pending_with_callback(receiver.url)
    action_reject(action_id=action.pk, user=UserFactory(), reason_code="bad_timing")
    assert action_callback_deliver(action_id=action.pk, attempt=3) == "gave_up"
    assert not Schedule.objects.filter(func="approvals.tasks.callback_deliver_task").exists()
    assert ProposedAction.objects.get(pk=action.pk).callback_last_error == FAILED
    assert "gave up after 3 attempts: HTTP 410 from the receiver" in caplog.text


@pytest.mark.django_db
def test_it_counts_an_unreachable_receiver_or_a_redirect_as_a_failure(receiver, callback_settings):
    receiver.status = 302
    local = {"allowed_hosts": ["127.0.0.1"], "timeout": 2}
    with pytest.raises(CallbackFailed, match="HTTP 302"):
        callback_post(url=receiver.url, body=b"{}", secret=SECRET, **local)
    port = receiver.server.server_address[1]
    receiver.server.server_close()
    with pytest.raises(CallbackFailed, match="no answer from the receiver"):
        callback_post(url=f"http://127.0.0.1:{port}/gone", body=b"{}", secret=SECRET, **local)


def test_it_checks_the_url_again_with_the_allow_list_before_sending(receiver):
    with pytest.raises(CallbackFailed, match="refused destination"):
        callback_post(url=receiver.url, body=b"{}", secret=SECRET, timeout=2)
    with pytest.raises(CallbackFailed, match="not in AGENTOPS_CALLBACK_HOSTS"):
        callback_post(url=receiver.url, body=b"{}", secret=SECRET, timeout=2, allowed_hosts=["example.com"])
    assert receiver.requests == []


def test_it_sends_to_the_address_it_checked_with_the_name_as_host(receiver):
    """The name resolves once (to the receiver, allowed by name); the request carries the name."""
    port = receiver.server.server_address[1]
    lookups = []

    def resolve(host, port):
        lookups.append(host)
        return ["127.0.0.1"]

    url = f"http://receiver.test:{port}/hooks"
    callback_post(
        url=url, body=b"{}", secret=SECRET, timeout=2, allowed_hosts=["receiver.test"], resolve=resolve
    )
    assert lookups == ["receiver.test"]
    assert receiver.requests[-1][0]["Host"] == f"receiver.test:{port}"


@pytest.mark.django_db
def test_it_skips_actions_without_a_callback_or_not_yet_decided(receiver, callback_settings, integration):
    undecided = _pending_with_callback(receiver.url)
    assert action_callback_deliver(action_id=undecided.pk) == "skipped"
    assert action_callback_deliver(action_id=ProposedActionFactory().pk) == "skipped"
    assert action_callback_deliver(action_id=999_999) == "skipped"
    assert receiver.requests == []


@pytest.mark.django_db
def test_it_does_not_sign_once_the_proposers_key_is_revoked(receiver, callback_settings, integration, caplog):
    action = _pending_with_callback(receiver.url)
    apikey_revoke(key_id=integration.key.pk)
    action_reject(action_id=action.pk, user=UserFactory(), reason_code="wrong_action")
    assert action_callback_deliver(action_id=action.pk) == "retrying"
    assert ProposedAction.objects.get(pk=action.pk).callback_last_error == FAILED
    assert "no usable API key with a callback secret" in caplog.text
    assert receiver.requests == []


@pytest.mark.django_db
def test_it_does_not_sign_for_an_action_proposed_without_a_key(receiver, callback_settings, integration):
    action = _pending_with_callback(receiver.url, proposed_by_user=UserFactory())
    action_reject(action_id=action.pk, user=UserFactory(), reason_code="wrong_action")
    assert action_callback_deliver(action_id=action.pk) == "retrying"
    assert receiver.requests == []


def _expire(action):
    """The SLA runs out on ``action`` and its policy expires undecided items."""
    ProposedAction.objects.filter(pk=action.pk).update(
        timeout_action="expire", sla_due_at=timezone.now() - timedelta(minutes=1)
    )
    actions_escalate_overdue(actor="sla")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("decide", "status"),
    [
        (
            lambda a: action_approve(
                action_id=a.pk, user=UserFactory(), seen_payload_sha256=payload_seen(a.pk)
            ),
            "approved",
        ),
        (lambda a: action_reject(action_id=a.pk, user=UserFactory(), reason_code="wrong_action"), "rejected"),
        (lambda a: _expire(a), "expired"),
        (lambda a: actions_cancel_unsent(reason="opted out", actor="ops", action_ids=[a.pk]), "cancelled"),
    ],
)
def test_each_decision_sends_its_callback_once_committed(
    receiver, callback_settings, integration, monkeypatch, django_capture_on_commit_callbacks, decide, status
):
    monkeypatch.setattr(Conf, "SYNC", True)  # run the django-q task in-process, as Q_SYNC=true does
    action = _pending_with_callback(receiver.url)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        decide(action)
    # The decision's own follow-up is one callback; a person's decision also publishes actions.decided
    # (core/events.py), which sends nothing to the agent.
    assert len([c for c in callbacks if "EventBus" not in c.__qualname__]) == 1
    receiver.wait_for(1)
    assert [json.loads(body)["status"] for _, body in receiver.requests] == [status]


@pytest.mark.django_db
def test_a_decision_rolled_back_sends_nothing(
    receiver, callback_settings, django_capture_on_commit_callbacks
):
    action = _pending_with_callback(receiver.url)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                action_approve(
                    action_id=action.pk, user=UserFactory(), seen_payload_sha256=payload_seen(action.pk)
                )
                raise RuntimeError("something later failed")
        except RuntimeError:
            pass
    assert callbacks == []
    assert ProposedAction.objects.get(pk=action.pk).status == "pending_approval"


@pytest.mark.django_db
def test_the_policy_deciding_on_its_own_also_sends_the_callback(
    receiver, callback_settings, integration, django_capture_on_commit_callbacks
):
    action = ProposedActionFactory(
        kind="account_lookup",
        payload={"email": "a@b.co"},
        callback_url=receiver.url,
        proposed_by_user=integration.key.user,
    )
    with django_capture_on_commit_callbacks() as callbacks:
        routed = action_route(action_id=action.pk)
    assert routed.status == "approved" and len(callbacks) == 1
    assert action_callback_deliver(action_id=action.pk) == "delivered"
    assert json.loads(receiver.requests[0][1])["decisions"][0]["decided_by"] is None


@pytest.mark.django_db(transaction=True)
def test_a_cancellation_while_the_approval_callback_is_in_flight_is_delivered_too(
    receiver, callback_settings, integration, monkeypatch
):
    """Given an approved action whose callback is being delivered (through the task ledger, as
    django-q runs it), when the action is cancelled before the receiver answers, then the agent is
    told both: approved, then cancelled (the second callback is not a duplicate of the first)."""
    monkeypatch.setattr(Conf, "SYNC", True)  # run the django-q tasks in-process, as Q_SYNC=true does
    callback_settings.AGENTOPS_CALLBACK_TIMEOUT = 10.0
    action = _pending_with_callback(receiver.url)

    def cancel_once(body: bytes) -> None:
        if json.loads(body)["status"] == "approved":
            actions_cancel_unsent(reason="the contact opted out", actor="ops", action_ids=[action.pk])

    receiver.on_request = cancel_once
    action_approve(action_id=action.pk, user=UserFactory(), seen_payload_sha256=payload_seen(action.pk))
    receiver.wait_for(2)

    assert [json.loads(body)["status"] for body in receiver.bodies] == ["approved", "cancelled"]
    assert ProposedAction.objects.get(pk=action.pk).callback_delivered_at is not None


@pytest.mark.django_db
def test_the_approval_is_told_even_when_the_action_is_executed_before_its_callback_runs(
    receiver, callback_settings, integration, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(Conf, "SYNC", True)
    action = _pending_with_callback(receiver.url)
    with django_capture_on_commit_callbacks() as queued:  # held back until the action has moved on
        action_approve(action_id=action.pk, user=UserFactory(), seen_payload_sha256=payload_seen(action.pk))
    actions_settle_many(outcomes=[Settled(action.pk, "executed", "done")], actor="executor")
    for callback in queued:
        callback()
    receiver.wait_for(1)
    assert [json.loads(body)["status"] for body in receiver.bodies] == ["approved"]
