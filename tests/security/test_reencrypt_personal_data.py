"""Key rotation: re-encrypting personal data under a new first key keeps every record readable."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from approvals.models import ProposedAction
from connectors.models import SyncConflict, WebhookEvent
from sales.models import Lead
from sales.selectors import leads_with_email
from security.crypto import DecryptionError
from security.models import ApiKey
from security.services import apikey_create
from support.models import Ticket
from tests.connectors.inbound_support import make_connection
from tests.factories import LeadFactory, ProposedActionFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def _snapshot() -> dict[str, list[tuple]]:
    return {
        "leads": list(Lead.objects.order_by("pk").values_list("email", "phone")),
        "tickets": list(
            Ticket.objects.order_by("pk").values_list("body", "requester_name", "requester_email")
        ),
        "events": list(WebhookEvent.objects.order_by("pk").values_list("payload", "raw_body")),
        "conflicts": list(SyncConflict.objects.order_by("pk").values_list("ours", "theirs")),
        "actions": list(ProposedAction.objects.order_by("pk").values_list("payload")),
        "callback secrets": list(ApiKey.objects.order_by("pk").values_list("callback_secret")),
    }


def test_it_re_encrypts_every_record_under_the_new_key_so_the_old_one_can_go():
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=[KEY_A]):
        for n in range(5):
            LeadFactory(email=f"person{n}@example.com", phone=f"+44 20 7946 01{n:02d}")
        LeadFactory(email="", phone="")
        TicketFactory(
            body="My card ending 4242 was stolen", requester_name="Grace H", requester_email="g@x.io"
        )
        connection = make_connection("salesforce")
        event = WebhookEvent.objects.create(
            connection=connection,
            vendor="salesforce",
            event_id="e-1",
            payload={"Email": "person0@example.com"},
            raw_body="<Email>person0@example.com</Email>",
            received_at=timezone.now(),
        )
        SyncConflict.objects.create(
            connection=connection, event=event, record_kind="lead", record_id=1, vendor_id="00Q1",
            field_name="email", ours="person1@example.com", theirs="other@example.com", kept="ours",
        )  # fmt: skip
        ProposedActionFactory(kind="send_email", payload={"to": "person2@example.com", "body": "Hi"})
        apikey_create(user=UserFactory(username="crm-agent"), name="CRM agent", scopes=["submit_actions"])
        before = _snapshot()

    out = StringIO()
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        call_command("reencrypt_personal_data", batch_size=2, stdout=out)
        again = StringIO()
        call_command("reencrypt_personal_data", stdout=again)

    assert "sales_lead: 2 rows read" in out.getvalue()  # progress per batch
    assert "sales_lead: done, 5 row(s) re-encrypted" in out.getvalue()  # the empty one needs nothing
    assert "security_apikey: done, 1 row(s) re-encrypted" in out.getvalue()  # its callback secret
    assert "re-encrypted 10 row(s) in 8 table(s)" in out.getvalue()
    assert "re-encrypted 0 row(s)" in again.getvalue()  # idempotent
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=[KEY_B]):
        assert _snapshot() == before
        assert leads_with_email(email="PERSON3@example.com").get().phone == "+44 20 7946 0103"
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=[KEY_A]), pytest.raises(DecryptionError):
        list(Lead.objects.exclude(email="").values_list("email", flat=True))


def test_it_refuses_a_batch_size_below_one():
    with pytest.raises(CommandError, match="--batch-size must be at least 1, got 0"):
        call_command("reencrypt_personal_data", batch_size=0)
