"""An opt-out flag arriving from a CRM by webhook becomes a withdrawal in the consent registry with
the vendor as its source, and takes effect on queued work."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from approvals.choices import ActionStatus
from connectors.inbound import inbound_process_pending
from connectors.sandbox.salesforce import SalesforceSandbox
from consent.models import ConsentRecord
from sales.models import Lead
from tests.connectors.inbound_support import call, make_connection, post_all, webhook_path
from tests.factories import ProposedActionFactory

pytestmark = pytest.mark.django_db
SF_API = "/services/data/v59.0"


@pytest.fixture
def salesforce(webhook_inbox, serve_sandbox) -> SalesforceSandbox:
    app = SalesforceSandbox()
    serve_sandbox(app)
    app.webhooks.configure(url=f"{webhook_inbox.url}/hooks")
    return app


def _change(app: SalesforceSandbox, inbox, lead_id: str | None = None, **fields: Any) -> list[dict]:
    time.sleep(0.002)  # distinct SystemModstamp milliseconds
    if lead_id is None:
        call(app, "POST", f"{SF_API}/sobjects/Lead", {"LastName": "Hopper", "Company": "Navy", **fields})
    else:
        call(app, "PATCH", f"{SF_API}/sobjects/Lead/{lead_id}", fields)
    assert app.webhooks.drain()
    deliveries = inbox.app.deliveries()
    inbox.app.reset()
    return deliveries


def _deliver(connection, deliveries: list[dict]) -> None:
    assert set(post_all(Client(), webhook_path(connection), deliveries)) == {200}
    inbound_process_pending(connection_id=connection.pk)


def test_a_salesforce_opt_out_records_a_withdrawal_with_the_vendor_as_source(salesforce, webhook_inbox):
    connection = make_connection("salesforce")
    _deliver(connection, _change(salesforce, webhook_inbox, Email="grace@example.com"))
    sf_id = next(iter(salesforce.tables["Lead"]))
    lead = Lead.objects.get(salesforce_id=sf_id)
    Lead.objects.filter(pk=lead.pk).update(consent_state="granted")
    queued = ProposedActionFactory(
        lead=lead, kind="send_sms", status=ActionStatus.APPROVED, approved_payload_sha256="x" * 64
    )

    _deliver(connection, _change(salesforce, webhook_inbox, sf_id, HasOptedOutOfEmail=True))

    lead.refresh_from_db()
    queued.refresh_from_db()
    assert lead.consent_state == "opted_out" and queued.status == ActionStatus.CANCELLED
    records = ConsentRecord.objects.filter(lead=lead)
    assert {r.source for r in records} == {"webhook:salesforce"}
    assert sorted(r.channel for r in records if r.status == "withdrawn") == [
        "email",
        "linkedin",
        "phone",
        "sms",
    ]


def test_a_lead_new_to_us_that_arrives_opted_out_is_recorded_too(salesforce, webhook_inbox):
    connection = make_connection("salesforce")

    _deliver(connection, _change(salesforce, webhook_inbox, Email="ada@example.com", HasOptedOutOfEmail=True))

    lead = Lead.objects.get()
    assert lead.consent_state == "opted_out"
    assert ConsentRecord.objects.filter(lead=lead, source="webhook:salesforce", channel="email").exists()
