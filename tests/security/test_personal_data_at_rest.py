"""No personal data in clear at rest: every text and JSON column of every table is read raw.

Leads, tickets (with a survey comment), inbound webhook deliveries (with a sync conflict on the
email), and an email proposed, edited and approved are all created through the normal APIs and
services with personal values that appear nowhere else; then every row of every table is read with
``connection.cursor()``.
The decision log may hold their hashes only.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.services import action_approve, action_propose, action_route
from audit.redaction import hash_value
from connectors.inbound import inbound_process_pending
from connectors.models import FieldOwnership, SyncConflict
from connectors.sandbox.salesforce import SalesforceSandbox
from sales.models import Lead
from sales.selectors import leads_with_email
from support.selectors import tickets_with_requester_email
from support.services import survey_response_record, ticket_bulk_upsert
from tests.connectors.conftest import serve_sandbox, webhook_inbox  # noqa: F401 - fixtures
from tests.connectors.inbound_support import call, make_connection, post_all, webhook_path
from tests.factories import UserFactory, payload_seen

pytestmark = pytest.mark.django_db

SF_API = "/services/data/v59.0"
API_EMAIL, API_PHONE = "quillon.vexbury@personal-test.example", "+44 20 7946 0991"
TICKET_EMAIL, TICKET_NAME = "zephyrine.oakhollow@personal-test.example", "Zephyrine Oakhollow"
TICKET_BODY = "My card ending 7713 was stolen near Brindlewick Lane, please block it"
SF_EMAIL, SF_PHONE = "marisol.quenby@personal-test.example", "+1-415-555-0187"
SF_NEW_EMAIL = "marisol.q.new@personal-test.example"
EDITED_TO = "ignatius.pellowe@personal-test.example"
SURVEY_COMMENT = "Slow answer, Quarrelwood branch never called back"

NEEDLES = [
    API_EMAIL, API_PHONE, "79460991", TICKET_EMAIL, TICKET_NAME, "Brindlewick", SF_EMAIL, SF_PHONE,
    "4155550187", SF_NEW_EMAIL, EDITED_TO, "Quarrelwood",
]  # fmt: skip


def _every_value() -> list[tuple[str, str, str]]:
    """(table, column, value as text) of every non-empty value of every column of every table."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    found.append((table, column, str(value)))
    return found


def _sf_change(app: SalesforceSandbox, inbox: Any, client: Client, conn: Any, lead_id: str | None, **fields):
    time.sleep(0.002)  # distinct SystemModstamp milliseconds
    if lead_id is None:
        call(app, "POST", f"{SF_API}/sobjects/Lead", {"LastName": "Quenby", "Company": "Navy", **fields})
    else:
        call(app, "PATCH", f"{SF_API}/sobjects/Lead/{lead_id}", fields)
    assert app.webhooks.drain()
    deliveries = inbox.app.deliveries()
    inbox.app.reset()
    assert set(post_all(client, webhook_path(conn), deliveries)) == {200}
    inbound_process_pending(connection_id=conn.pk)


def test_no_personal_value_is_stored_in_clear_anywhere(serve_sandbox, webhook_inbox):  # noqa: F811
    integration = UserFactory(username="integration", is_superuser=True)
    api = APIClient()
    api.force_authenticate(integration)
    response = api.post(
        "/api/v1/leads/bulk/",
        {"leads": [{"source": "hubspot", "external_id": "h-1", "last_name": "Vexbury", "email": API_EMAIL,
                    "phone": API_PHONE}]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    outcome = ticket_bulk_upsert(
        rows=[{"source": "zendesk", "external_id": "z-1", "subject": "Card", "body": TICKET_BODY,
               "requester_name": TICKET_NAME, "requester_email": TICKET_EMAIL}],
        actor="test",
    )  # fmt: skip
    assert outcome.ok, outcome.errors
    survey_response_record(
        ticket=tickets_with_requester_email(email=TICKET_EMAIL).get(), survey_id="s-1", score=2,
        responded_at=timezone.now(), comment=SURVEY_COMMENT, actor="survey-tool",
    )  # fmt: skip

    salesforce = SalesforceSandbox()
    serve_sandbox(salesforce)
    salesforce.webhooks.configure(url=f"{webhook_inbox.url}/hooks")
    sf_connection = make_connection("salesforce")
    client = Client()
    _sf_change(salesforce, webhook_inbox, client, sf_connection, None, Email=SF_EMAIL, Phone=SF_PHONE)
    sf_id = next(iter(salesforce.tables["Lead"]))
    FieldOwnership.objects.filter(record_kind="lead", field_name="email").update(owner="agentops")
    _sf_change(salesforce, webhook_inbox, client, sf_connection, sf_id, Email=SF_NEW_EMAIL)

    lead = leads_with_email(email=API_EMAIL).get()
    approver = UserFactory(username="approver")
    approver.groups.add(Group.objects.get_or_create(name="SDR managers")[0])
    action = action_propose(
        kind="send_email", domain="sales", payload={"to": API_EMAIL, "subject": "Hello", "body": "Hi there"},
        rationale="A hot lead", confidence=0.9, idempotency_key="at-rest-1", proposed_by="sdr_agent",
        lead_id=lead.pk,
    )  # fmt: skip
    action = action_route(action_id=action.pk)
    assert action.status == "pending_approval", action.policy_reasons
    action_approve(
        action_id=action.pk,
        user=approver,
        seen_payload_sha256=payload_seen(action.pk),
        edits={"to": EDITED_TO},
    )

    # Everything went where it should, readable through the models.
    assert lead.phone == API_PHONE
    ticket = tickets_with_requester_email(email=TICKET_EMAIL).get()
    assert (ticket.body, ticket.survey.comment) == (TICKET_BODY, SURVEY_COMMENT)
    sf_lead = Lead.objects.get(salesforce_id=sf_id)
    assert (sf_lead.email, sf_lead.phone) == (SF_EMAIL, SF_PHONE)  # ours kept: AgentOps owns the email now
    conflict = SyncConflict.objects.get(field_name="email")
    assert (conflict.ours, conflict.theirs) == (SF_EMAIL, SF_NEW_EMAIL)

    assert action.decisions.get().final_payload["to"] == EDITED_TO

    values = _every_value()
    # The scan does see the rows: names are kept in clear (search and greeting need them).
    assert any(table == "sales_lead" and value == "Vexbury" for table, column, value in values)
    leaks = [
        (table, column, needle)
        for table, column, value in values
        for needle in NEEDLES
        if needle.lower() in value.lower()
    ]
    assert leaks == []
    logged = [value for table, column, value in values if table == "audit_decisionlogentry"]
    assert any(hash_value(SF_NEW_EMAIL) in value for value in logged)  # the conflict, hashed
