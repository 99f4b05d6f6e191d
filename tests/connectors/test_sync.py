"""Incremental sync: it catches changes whose webhooks never came, feeds the same processing as
webhooks, keeps a cursor per connection and kind, and a second run changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django_q.models import Schedule

from audit.models import DecisionLogEntry
from connectors.inbound import inbound_process_pending
from connectors.models import InboundChannel, SyncCursor, ThrottleState, WebhookEvent
from connectors.sandbox.salesforce import SalesforceSandbox
from connectors.sandbox.zendesk import ZendeskSandbox
from connectors.sync import sync_run
from sales.models import Lead
from support.models import Ticket
from tests.connectors.inbound_support import call, make_connection, post_all, webhook_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def zendesk(serve_sandbox) -> ZendeskSandbox:
    app = ZendeskSandbox()
    serve_sandbox(app)
    return app


def _ticket(app: ZendeskSandbox, subject: str) -> dict:
    user = app.add_user(name="Ann Example", email=f"{subject}@example.com")
    return app.add_ticket(subject=subject, description=f"About {subject}", requester_id=user["id"])


def test_sync_catches_a_change_whose_webhook_was_dropped(zendesk, webhook_inbox):
    connection = make_connection("zendesk", base_url=zendesk.base_url)
    ticket = _ticket(zendesk, "Refund")
    zendesk.webhooks.configure(url=f"{webhook_inbox.url}/hooks")
    call(zendesk, "PUT", f"/api/v2/tickets/{ticket['id']}.json", {"ticket": {"subject": "Refund v1"}})
    assert zendesk.webhooks.drain()
    post_all(Client(), webhook_path(connection), webhook_inbox.app.deliveries())
    inbound_process_pending(connection_id=connection.pk)
    zendesk.webhooks.configure(url=None)  # the next delivery is lost
    zendesk.clock_offset = 2
    call(
        zendesk,
        "PUT",
        f"/api/v2/tickets/{ticket['id']}.json",
        {"ticket": {"subject": "Refund v2", "status": "solved"}},
    )
    assert Ticket.objects.get().subject == "Refund v1"

    summary = sync_run(connection=connection, kind="ticket")

    held = Ticket.objects.get()
    assert (held.subject, held.status) == ("Refund v2", "solved")
    assert summary.processed >= 1
    assert WebhookEvent.objects.filter(channel=InboundChannel.SYNC).exists()
    cursor = SyncCursor.objects.get(connection=connection, kind="ticket")
    assert int(cursor.since.timestamp()) == int(held.source_modified_at.timestamp())
    assert (cursor.cursor, cursor.last_error) == ("", "")


def test_running_the_sync_twice_changes_nothing(zendesk):
    connection = make_connection("zendesk", base_url=zendesk.base_url)
    for n in range(3):
        _ticket(zendesk, f"Question {n}")

    first = sync_run(connection=connection, kind="ticket")
    stamps = dict(Ticket.objects.values_list("external_id", "updated_at"))
    events, entries = WebhookEvent.objects.count(), DecisionLogEntry.objects.count()
    second = sync_run(connection=connection, kind="ticket")

    assert (first.records, first.new_events, first.processed) == (3, 3, 3)
    assert second.new_events == 0  # the boundary second is read again, and recognised
    assert dict(Ticket.objects.values_list("external_id", "updated_at")) == stamps
    assert (WebhookEvent.objects.count(), DecisionLogEntry.objects.count()) == (events, entries)


def test_salesforce_leads_are_synced_through_simple_salesforce(serve_sandbox):
    app = SalesforceSandbox()
    sandbox = serve_sandbox(app)
    connection = make_connection(
        "salesforce",
        base_url=sandbox.url,
        fields={
            "lead": ["Id", "FirstName", "LastName", "Company", "Email", "Title", "Status", "SystemModstamp"]
        },
    )
    for name in ("Hopper", "Lovelace"):
        call(
            app,
            "POST",
            "/services/data/v59.0/sobjects/Lead",
            {"LastName": name, "Company": "Navy", "Title": "Dr"},
        )

    summary = sync_run(connection=connection, kind="lead")
    again = sync_run(connection=connection, kind="lead")

    assert summary.processed == 2
    assert sorted(Lead.objects.values_list("last_name", flat=True)) == ["Hopper", "Lovelace"]
    assert set(Lead.objects.values_list("source", "title").distinct()) == {("salesforce", "Dr")}
    assert again.new_events == 0


def test_a_failing_sync_keeps_its_place_and_says_why():
    connection = make_connection("zendesk", base_url="http://127.0.0.1:9")

    summary = sync_run(connection=connection, kind="ticket")

    cursor = SyncCursor.objects.get()
    assert summary.errors == 1
    assert cursor.since is None
    assert "connection" in cursor.last_error
    # The failure counts on the connection's breaker, which the outbound executor shares.
    breaker = ThrottleState.objects.get(key=f"connection:{connection.pk}:breaker")
    assert breaker.data


def test_the_command_syncs_one_connection_and_kind(zendesk):
    connection = make_connection("zendesk", base_url=zendesk.base_url)
    _ticket(zendesk, "Card")
    out = StringIO()

    call_command("sync_connections", "--connection", connection.name, "--kind", "ticket", stdout=out)

    assert "processed=1" in out.getvalue()
    assert Ticket.objects.get().subject == "Card"


def test_the_sweep_and_the_sync_are_scheduled_once():
    names = set(Schedule.objects.values_list("name", flat=True))

    assert {"connectors: inbound sweep", "connectors: incremental sync"} <= names


def test_the_tasks_apply_pending_events_and_sync(zendesk):
    from connectors.tasks import inbound_process_task, inbound_sweep_task, sync_connections_task

    connection = make_connection("zendesk", base_url=zendesk.base_url)
    _ticket(zendesk, "Card")

    synced = sync_connections_task()
    WebhookEvent.objects.update(status="received")

    assert synced["processed"] == 1
    assert inbound_process_task(connection.pk)["processed"] == 1  # applied again: no change
    assert inbound_sweep_task()["processed"] == 0
    assert Ticket.objects.get().subject == "Card"
