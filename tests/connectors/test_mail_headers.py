"""Every email AgentOps sends answers back (issue 18): a Reply-To naming its action, and for a lead
a List-Unsubscribe with the lead's signed https page (RFC 8058 one-click) and unsubscribe mailbox.

Sent through the outbox to a real SMTP server on 127.0.0.1 and read back with the email package.
"""

from __future__ import annotations

from email import message_from_bytes

import pytest

from connectors.mail.addresses import address_owner
from sales.choices import ConsentState
from sales.unsubscribe import unsubscribe_token_lead
from tests.connectors.smtp import smtp_server
from tests.factories import LeadFactory, approved_action
from tests.outbox import outbox_run

pytestmark = pytest.mark.django_db
__all__ = ["smtp_server"]  # the fixture, used by name


@pytest.fixture(autouse=True)
def public_address(settings):
    settings.AGENTOPS_BASE_URL = "https://agentops.example.com"
    settings.AGENTOPS_REPLY_DOMAIN = "reply.agentops.example.com"


def _sent(smtp_server, **fields):
    lead = LeadFactory(email="ada@northwind.example", consent_state=ConsentState.GRANTED)
    payload = {"to": lead.email, "subject": "Hello", "body": "Hi Ada", "cc": []}
    action = approved_action("send_email", payload, lead=lead, **fields)
    assert outbox_run() == {"executed": 1}
    [(_, raw)] = smtp_server.messages
    return action, lead, message_from_bytes(raw)


def test_it_sends_replies_to_an_address_that_names_the_action(smtp_server):
    action, _, message = _sent(smtp_server)

    local, _, domain = message["Reply-To"].partition("@")
    assert local.startswith("reply+") and domain == "reply.agentops.example.com"
    assert address_owner(message["Reply-To"]) == ("reply", action.pk)


def test_a_reply_address_cannot_be_made_up_for_another_action(smtp_server):
    _, _, message = _sent(smtp_server)
    local, _, domain = message["Reply-To"].partition("@")
    number, _, digest = local.removeprefix("reply+").partition("-")

    other = f"reply+{_base36(int(number, 36) + 1)}-{digest}@{domain}"
    assert address_owner(other) is None
    assert address_owner(f"reply+{number}-{'0' * 20}@{domain}") is None
    assert address_owner(message["Reply-To"].replace(domain, "elsewhere.example")) is None


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return (_base36(number // 36) if number >= 36 else "") + digits[number % 36]


def test_it_offers_one_click_unsubscribe_to_the_leads_signed_page_and_a_mailbox(smtp_server):
    _, lead, message = _sent(smtp_server)

    https, mailto = [part.strip().strip("<>") for part in message["List-Unsubscribe"].split(",")]
    assert https.startswith("https://agentops.example.com/webhooks/mail/unsubscribe/")
    assert unsubscribe_token_lead(token=https.rstrip("/").rsplit("/", 1)[1]) == lead.pk
    assert mailto.startswith("mailto:unsubscribe+")
    assert address_owner(mailto.removeprefix("mailto:").split("?")[0]) == ("unsubscribe", lead.pk)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_an_email_about_no_lead_has_a_reply_address_but_no_unsubscribe_link(smtp_server):
    payload = {"to": "someone@example.com", "subject": "Hello", "body": "Hi", "cc": []}
    approved_action("send_email", payload, lead=None)

    assert outbox_run() == {"executed": 1}

    [(_, raw)] = smtp_server.messages
    message = message_from_bytes(raw)
    assert message["Reply-To"].startswith("reply+")
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
