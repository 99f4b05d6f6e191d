"""Transports against Django's locmem mail backend and a real webhook server on 127.0.0.1."""

import socket

import pytest
from django.core import mail

from notifications.messages import Message
from notifications.transports import TRANSPORTS, EmailTransport, SlackTransport, TransportError

MESSAGE = Message(
    subject="[AgentOps] Due in 5 min: Send email — Ada",
    text="Open it: http://x/approvals/1/",
    html="<p><a href='http://x/approvals/1/'>Open</a></p>",
    slack_text="*Due in 5 min*: Send email #1 <http://x/approvals/1/|Open in AgentOps>",
    to="sofia@example.com",
)


def test_the_registry_maps_each_channel_to_its_transport():
    assert TRANSPORTS == {"email": EmailTransport, "slack": SlackTransport}


def test_it_emails_text_and_html(settings):
    settings.DEFAULT_FROM_EMAIL = "AgentOps <ops@example.com>"
    EmailTransport().send(MESSAGE)
    (sent,) = mail.outbox
    assert (sent.subject, sent.to, sent.from_email) == (
        MESSAGE.subject,
        ["sofia@example.com"],
        "AgentOps <ops@example.com>",
    )
    assert "http://x/approvals/1/" in sent.body
    assert sent.alternatives[0][1] == "text/html"


def test_it_refuses_an_email_without_an_address_or_with_a_header_break():
    with pytest.raises(TransportError, match="no recipient") as no_address:
        EmailTransport().send(Message(subject="s", text="t"))
    with pytest.raises(TransportError) as header:
        EmailTransport().send(Message(subject="a\nBcc: x@example.com", text="t", to="a@example.com"))
    assert not no_address.value.retryable and not header.value.retryable
    assert mail.outbox == []


def test_it_posts_the_slack_text_as_json(slack):
    SlackTransport(slack.url).send(MESSAGE)
    assert slack.received == [
        {"path": "/hooks/T000/B000", "type": "application/json", "json": {"text": MESSAGE.slack_text}}
    ]


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (404, False), (400, False)])
def test_a_webhook_error_says_whether_to_retry(slack, status, retryable):
    slack.status = status
    with pytest.raises(TransportError, match=f"HTTP {status}") as error:
        SlackTransport(slack.url).send(MESSAGE)
    assert error.value.retryable is retryable


def test_an_unreachable_webhook_is_worth_a_retry():
    with socket.socket() as s:  # a port nothing listens on once this socket closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError) as error:
        SlackTransport(f"http://127.0.0.1:{port}/hook").send(MESSAGE)
    assert error.value.retryable


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "", "http:///nohost"])
def test_it_refuses_anything_but_an_http_webhook(url):
    with pytest.raises(TransportError, match="http\\(s\\) URL") as error:
        SlackTransport(url).send(MESSAGE)
    assert not error.value.retryable
