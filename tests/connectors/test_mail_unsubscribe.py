"""The hosted unsubscribe page behind every email's link and List-Unsubscribe header (issue 18).

GET only asks (mail scanners open links); a POST, the page's button or a mailbox's RFC 8058 one-click
POST without a CSRF token, opts the lead out at once: the consent registry's withdrawal with its
decision-log entry, its enrolments ended and the messages still queued cancelled. A forged or expired
link changes nothing and says so.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from audit.models import DecisionLogEntry
from consent.models import ConsentRecord
from sales.choices import ConsentState
from sales.models import Cadence, Enrolment, LeadEvent
from sales.unsubscribe import unsubscribe_token, unsubscribe_url
from tests.factories import LeadFactory, approved_action
from tests.outbox import outbox_run

pytestmark = pytest.mark.django_db

ONE_CLICK = "List-Unsubscribe=One-Click"


@pytest.fixture
def lead():
    return LeadFactory(email="ada@northwind.example", consent_state=ConsentState.GRANTED)


def _queued_email(lead, key="queued-1"):
    payload = {"to": lead.email, "subject": "Following up", "body": "Hi Ada", "cc": []}
    return approved_action("send_email", payload, lead=lead, idempotency_key=key)


def _path(lead) -> str:
    return urlsplit(unsubscribe_url(lead_id=lead.pk)).path


def _one_click(client, lead):
    return client.post(_path(lead), data=ONE_CLICK, content_type="application/x-www-form-urlencoded")


def test_opening_the_link_asks_and_changes_nothing(client, lead):
    email = _queued_email(lead)

    response = client.get(_path(lead))

    assert response.status_code == 200
    assert b"Unsubscribe?" in response.content and b'method="post"' in response.content
    lead.refresh_from_db()
    email.refresh_from_db()
    assert lead.consent_state == ConsentState.GRANTED and email.status == "approved"
    assert not ConsentRecord.objects.exists() and not LeadEvent.objects.exists()


def test_a_one_click_post_without_a_csrf_token_opts_the_lead_out_and_cancels_the_queued_message(lead):
    email = _queued_email(lead)
    cadence = Cadence.objects.create(name="Inbound hot")
    now = timezone.now()
    enrolment = Enrolment.objects.create(
        lead=lead, cadence=cadence, status="active", next_position=2, next_step_at=now, enrolled_at=now
    )

    response = _one_click(Client(enforce_csrf_checks=True), lead)

    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    lead.refresh_from_db()
    email.refresh_from_db()
    enrolment.refresh_from_db()
    assert lead.consent_state == ConsentState.OPTED_OUT
    assert set(ConsentRecord.objects.filter(lead=lead).values_list("channel", "status")) >= {
        ("email", "withdrawn")
    }
    assert email.status == "cancelled"
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "opted_out")
    assert LeadEvent.objects.get(lead=lead).kind == "unsubscribed"
    assert DecisionLogEntry.objects.filter(event_type="consent.changed", subject_id=str(lead.pk)).exists()
    assert outbox_run() == {}  # nothing left to send


def test_the_next_message_queued_after_the_unsubscribe_is_refused(client, lead):
    client.post(_path(lead))

    later = _queued_email(lead, key="queued-later")

    assert outbox_run() == {"cancelled": 1}
    later.refresh_from_db()
    assert later.status == "cancelled"


def test_posting_the_same_link_twice_records_one_unsubscribe(client, lead):
    # One link, posted twice (a link made again a second later is another token, so another link).
    link = _path(lead)
    client.post(link)
    records = ConsentRecord.objects.count()

    again = client.post(link)

    assert again.status_code == 200
    assert LeadEvent.objects.filter(lead=lead).count() == 1
    assert ConsentRecord.objects.count() == records


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("forged", id="not-signed"),
        pytest.param(signing.dumps(1, salt="another.purpose"), id="signed-for-something-else"),
    ],
)
def test_a_forged_link_is_refused_with_a_clear_page_and_changes_nothing(client, lead, token):
    for method in (client.get, client.post):
        response = method(f"/webhooks/mail/unsubscribe/{token}/")
        assert response.status_code == 400
        assert b"not one we sent" in response.content
    assert not ConsentRecord.objects.exists()


def test_a_link_for_another_lead_cannot_be_made_by_changing_its_number(client, lead):
    other = LeadFactory(email="grace@northwind.example", consent_state=ConsentState.GRANTED)
    token = unsubscribe_token(lead_id=lead.pk)
    _, stamp, mac = token.split(":")
    tampered = ":".join([signing.b64_encode(str(other.pk).encode()).decode(), stamp, mac])

    assert client.post(f"/webhooks/mail/unsubscribe/{tampered}/").status_code == 400
    other.refresh_from_db()
    assert other.consent_state == ConsentState.GRANTED


def test_an_expired_link_is_refused_and_says_so(client, lead, settings, monkeypatch):
    settings.AGENTOPS_UNSUBSCRIBE_MAX_AGE_DAYS = 30
    month_ago = time.time() - 31 * 86400
    monkeypatch.setattr(signing.time, "time", lambda: month_ago)  # the link was made 31 days ago
    old = unsubscribe_token(lead_id=lead.pk)
    monkeypatch.undo()

    response = client.post(f"/webhooks/mail/unsubscribe/{old}/")

    assert response.status_code == 400 and b"expired" in response.content
    lead.refresh_from_db()
    assert lead.consent_state == ConsentState.GRANTED
    assert not LeadEvent.objects.exists()
