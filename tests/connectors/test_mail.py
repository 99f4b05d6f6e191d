"""AgentOps's own mail is one more connector (connectors.mail), sending over real SMTP.

The outbox hands it ``send_email`` actions like any vendor's call: a local SMTP server (aiosmtpd on
127.0.0.1) receives what it sends, refuses a recipient, or is not there at all.
"""

from __future__ import annotations

from email import message_from_bytes

import pytest

from connectors.base import ConnectionConfig
from connectors.models import ActionExecution, ExecutionAttempt
from connectors.registry import connector_for, vendors
from sales.choices import ConsentState
from tests.connectors.smtp import free_port, smtp_server
from tests.factories import LeadFactory, approved_action
from tests.outbox import outbox_run

pytestmark = pytest.mark.django_db
__all__ = ["smtp_server"]  # the fixture, used by name


def _approved_email(to: str, key: str):
    lead = LeadFactory(email=to, consent_state=ConsentState.GRANTED)
    payload = {"to": to, "subject": "Hello", "body": "Hi Ada", "cc": []}
    return approved_action("send_email", payload, lead=lead, idempotency_key=key)


def test_mail_is_a_registered_connector_that_only_sends_email():
    assert "email" not in vendors()  # no Connection names it: Django's EMAIL_* settings say where mail goes
    sender = connector_for(ConnectionConfig(vendor="email", base_url=""))
    with pytest.raises(Exception, match="email does not support create_task|create task"):
        sender.create_task(about_kind="lead", about_id="1", subject="s", body="", marker="m")


def test_an_approved_email_reaches_the_smtp_server_once_with_its_marker(smtp_server):
    action = _approved_email("ada@example.com", "mail-smtp-1")

    outbox_run()
    outbox_run()

    action.refresh_from_db()
    assert action.status == "executed"
    [(recipients, raw)] = smtp_server.messages
    message = message_from_bytes(raw)
    assert recipients == ["ada@example.com"]
    assert message["Message-ID"] == "<mail-smtp-1@agentops>"
    assert (message["Subject"], message.get_payload().strip()) == ("Hello", "Hi Ada")
    attempt = ExecutionAttempt.objects.get(action=action)
    assert (attempt.outcome, attempt.operation, attempt.connection) == ("ok", "send_email", None)


def test_a_recipient_the_server_refuses_fails_for_good_without_a_retry(smtp_server):
    action = _approved_email("nobody@refused.example", "mail-smtp-2")

    outbox_run()

    action.refresh_from_db()
    execution = ActionExecution.objects.get(action=action)
    assert action.status == "failed" and execution.done
    assert "mail refused" in execution.last_error
    assert smtp_server.messages == []


def test_an_unreachable_mail_server_is_tried_again_later(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    action = _approved_email("ada@example.com", "mail-smtp-3")

    outbox_run()

    execution = ActionExecution.objects.get(action=action)
    assert not execution.done and execution.due_at is not None
    assert "mail server unreachable" in execution.last_error
