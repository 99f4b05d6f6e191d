"""Red team: an agent aims its decision callback at the server's own network, or at another
integration's secret.

The callback is a request the server makes on the agent's behalf, so a callback URL that reaches
loopback, a private network or the cloud metadata service turns AgentOps into the agent's proxy
into places it must never see (SSRF). Every such URL is refused at submission (400 naming
``callback_url``, nothing stored), whatever spelling of the address it uses; a name that resolves
to a public address when proposed and to loopback when the decision is delivered (DNS rebinding)
is refused at delivery, without a byte sent; and what the agent reads back about a failed
delivery is one generic code, never the connection error (a port-scan oracle).

DNS is simulated by replacing ``socket.getaddrinfo`` (the operating system's resolver), not any
AgentOps function; the receiver is a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import socket
import time

import pytest

from agentops_client import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_callback
from approvals.models import ProposedAction
from approvals.services import action_callback_deliver, action_reject
from security.services import apikey_rotate
from tests.callback_receiver import CallbackReceiver

pytestmark = pytest.mark.django_db


def _decide(action_id, user):
    """A human decides (rejecting: every decision sends the callback, and no payload hash is needed)."""
    return action_reject(action_id=action_id, user=user, reason_code="wrong_action")


PUBLIC_IP = "93.184.216.34"  # a global unicast address (example.com's, once)

LOOPBACK_AND_FRIENDS = [
    "http://127.0.0.1:5432/",
    "http://localhost/",
    "http://localhost./",
    "http://sub.localhost/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://127.0.0.1./",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://evil.com@127.0.0.1/",
    "http://127.0.0.1#@evil.com/",
    "http://127.0.0.1:80\\@evil.com/",
    "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/",  # NFKC-folds to "localhost"
    "http://１２７.０.０.１/",  # full-width digits
    "http://exаmple.com/",  # Cyrillic "а"
]


def _resolver(monkeypatch, answers):
    """Make the system resolver answer ``answers[name]`` (a list of addresses, or a callable giving
    one per call); names not listed fall through to the real resolver (/etc/hosts for localhost)."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name in answers:
            asked.append(name)
            found = answers[name]
            addresses = found() if callable(found) else found
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 0))
                for a in addresses
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.fixture
def receiver():
    with CallbackReceiver() as server:
        yield server


@pytest.fixture
def callbacks_on(settings):
    settings.AGENTOPS_CALLBACKS = True
    settings.AGENTOPS_CALLBACK_HOSTS = []
    settings.AGENTOPS_CALLBACK_TIMEOUT = 1.0
    settings.AGENTOPS_CALLBACK_MAX_ATTEMPTS = 3
    return settings


@pytest.mark.parametrize("url", LOOPBACK_AND_FRIENDS)
def test_it_refuses_a_callback_into_the_servers_own_network(agent, callbacks_on, url):
    response = agent.propose(callback_url=url)
    assert response.status_code == 400, response.json()
    assert response.json()["field"] == "callback_url"
    assert response.json()["detail"].startswith("callback_url: ")
    assert ProposedAction.objects.count() == 0


def test_it_refuses_a_name_that_resolves_to_loopback(agent, callbacks_on, monkeypatch):
    _resolver(monkeypatch, {"hooks.attacker.example": ["127.0.0.1"]})
    response = agent.propose(callback_url="http://hooks.attacker.example/hook")
    assert response.status_code == 400 and response.json()["field"] == "callback_url"
    assert ProposedAction.objects.count() == 0


def test_it_refuses_a_name_with_any_private_address_among_public_ones(agent, callbacks_on, monkeypatch):
    _resolver(monkeypatch, {"hooks.attacker.example": [PUBLIC_IP, "10.1.2.3"]})
    response = agent.propose(callback_url="http://hooks.attacker.example/hook")
    assert response.status_code == 400 and response.json()["field"] == "callback_url"
    assert ProposedAction.objects.count() == 0


def test_it_answers_a_private_and_a_missing_host_alike(agent, callbacks_on, monkeypatch):
    """The refusal must not tell the agent which internal names exist (a DNS oracle)."""
    _resolver(monkeypatch, {"db.internal.example": ["10.0.0.7"]})

    def no_such_host(host, *args, **kwargs):
        if host == "nothing.internal.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    resolve = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    private = agent.propose(callback_url="http://db.internal.example/")
    missing = agent.propose(callback_url="http://nothing.internal.example/")
    assert private.status_code == missing.status_code == 400
    assert private.json()["detail"] == missing.json()["detail"].replace(
        "nothing.internal.example", "db.internal.example"
    )
    assert ProposedAction.objects.count() == 0


def test_it_refuses_an_allow_listed_domains_subdomain_that_resolves_inside(agent, callbacks_on, monkeypatch):
    """Allow-listing ``example.com`` lets callbacks go to its subdomains, not to the subdomain a
    company points at its own network."""
    callbacks_on.AGENTOPS_CALLBACK_HOSTS = ["example.com"]
    _resolver(monkeypatch, {"intranet.example.com": ["192.168.10.10"]})
    response = agent.propose(callback_url="http://intranet.example.com/")
    assert response.status_code == 400 and response.json()["field"] == "callback_url"
    assert ProposedAction.objects.count() == 0


def test_a_developer_allows_a_local_receiver_only_by_naming_it(agent, callbacks_on, receiver):
    url = f"http://127.0.0.1:{receiver.port}/hook"
    refused = agent.propose(callback_url=url)
    assert refused.status_code == 400 and refused.json()["field"] == "callback_url"
    callbacks_on.AGENTOPS_CALLBACK_HOSTS = ["127.0.0.1"]
    allowed = agent.propose(callback_url=url)
    assert allowed.status_code == 201, allowed.json()
    callbacks_on.AGENTOPS_CALLBACK_HOSTS = ["0.0.0.1"]  # listing one address allows no other
    assert agent.propose(callback_url=url).status_code == 400


def test_production_takes_only_https_callbacks_to_listed_hosts(agent, callbacks_on, monkeypatch):
    callbacks_on.AGENTOPS_CALLBACK_HTTPS_ONLY = True
    callbacks_on.AGENTOPS_CALLBACK_HOSTS = ["hooks.example.com"]
    _resolver(monkeypatch, {"hooks.example.com": [PUBLIC_IP]})
    plain = agent.propose(callback_url="http://hooks.example.com/agentops")
    assert plain.status_code == 400 and "https" in plain.json()["detail"]
    assert agent.propose(callback_url="https://hooks.example.com/agentops").status_code == 201
    assert ProposedAction.objects.count() == 1


def test_dns_rebinding_after_submission_sends_nothing_to_loopback(
    agent, callbacks_on, receiver, sdr_manager, monkeypatch
):
    """Public when proposed, loopback when delivered: the delivery checks again and refuses."""
    now_answer = [PUBLIC_IP]
    _resolver(monkeypatch, {"rebind.attacker.example": lambda: now_answer})
    response = agent.propose(callback_url=f"http://rebind.attacker.example:{receiver.port}/hook")
    assert response.status_code == 201, response.json()
    action = _decide(response.json()["id"], sdr_manager)

    now_answer[:] = ["127.0.0.1"]
    assert action_callback_deliver(action_id=action.pk) == "retrying"

    assert receiver.requests == []
    seen = agent.get(f"/api/v1/actions/{action.pk}/").json()
    assert seen["callback_last_error"] == "callback_failed"
    assert ProposedAction.objects.get(pk=action.pk).callback_last_error == "callback_failed"


def test_the_delivery_connects_to_the_address_it_checked(
    agent, callbacks_on, receiver, sdr_manager, monkeypatch
):
    """A resolver that answers public for the check and loopback for any later lookup (rebinding
    between check and connect): the connection goes to the public address that was checked."""
    answers = iter([[PUBLIC_IP], [PUBLIC_IP]])  # submission, then the delivery's check
    _resolver(monkeypatch, {"flip.attacker.example": lambda: next(answers, ["127.0.0.1"])})
    response = agent.propose(callback_url=f"http://flip.attacker.example:{receiver.port}/hook")
    assert response.status_code == 201, response.json()
    action = _decide(response.json()["id"], sdr_manager)

    started = time.monotonic()
    action_callback_deliver(action_id=action.pk)

    assert receiver.requests == []
    assert time.monotonic() - started < 10


def test_the_agent_reads_back_one_generic_code_whatever_went_wrong(
    agent, callbacks_on, receiver, sdr_manager
):
    """Refused, closed port or error answer: the agent sees ``callback_failed``, never the reason."""
    callbacks_on.AGENTOPS_CALLBACK_HOSTS = ["127.0.0.1"]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    response = agent.propose(callback_url=f"http://127.0.0.1:{closed_port}/hook")
    assert response.status_code == 201, response.json()
    action = _decide(response.json()["id"], sdr_manager)
    assert action_callback_deliver(action_id=action.pk) == "retrying"
    seen = agent.get(f"/api/v1/actions/{action.pk}/").json()
    assert seen["callback_last_error"] == "callback_failed"
    assert "refused" not in str(seen).lower() and str(closed_port) not in seen["callback_last_error"]


def test_it_refuses_a_callback_url_from_a_caller_without_an_api_key(callbacks_on, sdr_manager):
    """The callback is signed with the proposing key's secret: without a key nothing could sign it."""
    from rest_framework.test import APIClient

    from tests.factories import user_in_role

    bot = user_in_role("Integration accounts", username="session-bot")
    client = APIClient()
    client.force_authenticate(bot)
    response = client.post(
        "/api/v1/actions/",
        {
            "kind": "send_email",
            "payload": {"to": "ada@example.com", "subject": "Hi", "body": "Hi Ada"},
            "rationale": "r",
            "confidence": 0.5,
            "idempotency_key": "session:1",
            "callback_url": "https://hooks.example.com/x",
        },
        format="json",
    )
    assert response.status_code == 400 and response.json()["field"] == "callback_url"
    assert ProposedAction.objects.count() == 0


# --- Each integration's callbacks are signed with its own secret ---------------------------------


def _delivered(agent, receiver, sdr_manager, key):
    response = agent.propose(callback_url=f"http://127.0.0.1:{receiver.port}/hook", idempotency_key=key)
    assert response.status_code == 201, response.json()
    action = _decide(response.json()["id"], sdr_manager)
    assert action_callback_deliver(action_id=action.pk) == "delivered"
    headers, body = receiver.requests[-1]
    return dict(body=body, timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER])


def test_each_integration_signs_with_its_own_secret(agent, other_agent, callbacks_on, receiver, sdr_manager):
    callbacks_on.AGENTOPS_CALLBACK_HOSTS = ["127.0.0.1"]
    secret_a, secret_b = agent.key.callback_secret, other_agent.key.callback_secret
    assert secret_a and secret_b and secret_a != secret_b

    mine = _delivered(agent, receiver, sdr_manager, "a:1")
    theirs = _delivered(other_agent, receiver, sdr_manager, "b:1")

    assert verify_callback(**mine, secret=secret_a) and not verify_callback(**mine, secret=secret_b)
    assert verify_callback(**theirs, secret=secret_b) and not verify_callback(**theirs, secret=secret_a)


def test_after_rotation_the_new_keys_secret_signs(agent, callbacks_on, receiver, sdr_manager):
    from datetime import timedelta

    callbacks_on.AGENTOPS_CALLBACK_HOSTS = ["127.0.0.1"]
    old_secret = agent.key.callback_secret
    issued = apikey_rotate(key_id=agent.key.pk, overlap=timedelta(hours=1))
    assert issued.callback_secret and issued.callback_secret != old_secret

    signed = _delivered(agent, receiver, sdr_manager, "a:rotated")

    assert verify_callback(**signed, secret=issued.callback_secret)
    assert not verify_callback(**signed, secret=old_secret)
