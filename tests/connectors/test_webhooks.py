"""Webhook endpoints: each vendor's signature scheme, raw storage deduplicated by event id, a fast
answer with no processing, and bad signatures, stale timestamps and replays refused with no effect.

The sandbox emulators send their webhooks over HTTP to a local inbox; the tests post what arrived,
byte for byte with the vendor's headers, to our endpoint through Django's test client.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_q.models import OrmQ

from connectors import signatures
from connectors.models import Connection, InboundStatus, WebhookEvent
from connectors.sandbox.hubspot import HubSpotSandbox
from connectors.sandbox.intercom import IntercomSandbox
from connectors.sandbox.salesforce import SalesforceSandbox
from connectors.sandbox.zendesk import ZendeskSandbox
from sales.models import Lead
from support.models import Ticket
from tests.connectors.inbound_support import CREDENTIALS, call, make_connection, post_delivery, webhook_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)  # webhooks must not need a CSRF token


def zendesk_deliveries(inbox, app: ZendeskSandbox, serve_sandbox, changes: int = 1) -> list[dict[str, Any]]:
    serve_sandbox(app)
    app.webhooks.configure(url=f"{inbox.url}/hooks")
    user = app.add_user(name="Ann Example", email="ann@example.com")
    ticket = app.add_ticket(subject="Refund", description="Charged twice", requester_id=user["id"])
    for n in range(changes):
        call(app, "PUT", f"/api/v2/tickets/{ticket['id']}.json", {"ticket": {"subject": f"Refund {n}"}})
    assert app.webhooks.drain()
    return inbox.app.deliveries()


def test_it_stores_a_signed_zendesk_event_and_answers_before_processing(
    client, webhook_inbox, serve_sandbox, django_capture_on_commit_callbacks
):
    connection = make_connection("zendesk")
    [delivery] = zendesk_deliveries(webhook_inbox, ZendeskSandbox(), serve_sandbox)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_delivery(client, webhook_path(connection), delivery)

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.vendor, event.entity_kind, event.status) == ("zendesk", "ticket", InboundStatus.RECEIVED)
    assert event.raw_body == delivery["body"].decode()
    assert event.payload["subject"] == "Refund 0"
    assert Ticket.objects.count() == 0  # nothing applied in the request
    assert OrmQ.objects.count() == 1  # processing was queued once the event committed


def test_a_repeated_delivery_is_acknowledged_and_stored_once(client, webhook_inbox, serve_sandbox):
    connection = make_connection("zendesk")
    [delivery] = zendesk_deliveries(webhook_inbox, ZendeskSandbox(), serve_sandbox)

    statuses = [post_delivery(client, webhook_path(connection), delivery).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert WebhookEvent.objects.get().deliveries == 3


def test_a_bad_signature_is_refused_with_no_effect(client, webhook_inbox, serve_sandbox):
    connection = make_connection("zendesk")
    [delivery] = zendesk_deliveries(webhook_inbox, ZendeskSandbox(), serve_sandbox)
    tampered = {**delivery, "body": delivery["body"].replace(b"Refund 0", b"Refund 9")}

    response = post_delivery(client, webhook_path(connection), tampered)

    assert response.status_code == 401
    assert response.content == b""  # no detail for the caller
    assert not WebhookEvent.objects.exists()


def test_a_stale_timestamp_is_refused_with_no_effect(client, webhook_inbox, serve_sandbox):
    connection = make_connection("zendesk")
    app = ZendeskSandbox()
    app.clock_offset = -(signatures.TIMESTAMP_WINDOW_SECONDS + 60)  # signed six minutes ago
    [delivery] = zendesk_deliveries(webhook_inbox, app, serve_sandbox)

    response = post_delivery(client, webhook_path(connection), delivery)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_an_event_id_reused_for_another_change_is_refused_as_a_replay(client, webhook_inbox, serve_sandbox):
    connection = make_connection("zendesk")
    first, second = zendesk_deliveries(webhook_inbox, ZendeskSandbox(), serve_sandbox, changes=2)
    assert post_delivery(client, webhook_path(connection), first).status_code == 200
    # The second change re-sent under the first one's event id, freshly and validly signed.
    forged = json.loads(second["body"]) | {"id": json.loads(first["body"])["id"]}
    body = json.dumps(forged).encode()
    stamp = second["headers"][signatures.ZENDESK_TIMESTAMP_HEADER.lower()]
    headers = {k.lower(): v for k, v in signatures.zendesk_headers(
        secret=ZendeskSandbox.webhook_secret, body=body, timestamp=stamp
    ).items()}  # fmt: skip

    response = post_delivery(client, webhook_path(connection), {"headers": headers, "body": body})

    assert response.status_code == 400
    event = WebhookEvent.objects.get()
    assert (event.payload["subject"], event.deliveries) == ("Refund 0", 1)


def test_hubspot_v3_signatures_cover_the_uri_and_a_five_minute_window(
    client, settings, webhook_inbox, serve_sandbox
):
    connection = make_connection("hubspot")
    app = HubSpotSandbox()
    serve_sandbox(app)
    app.webhooks.configure(url=f"{webhook_inbox.url}{webhook_path(connection)}")
    call(app, "POST", "/crm/v3/objects/contacts", {"properties": {"email": "ada@example.com"}})
    assert app.webhooks.drain()
    [delivery] = webhook_inbox.app.deliveries()
    path = webhook_path(connection)

    settings.AGENTOPS_BASE_URL = "http://127.0.0.1:9"  # our public address is not the one HubSpot called
    on_other_address = post_delivery(client, path, delivery)
    settings.AGENTOPS_BASE_URL = webhook_inbox.url
    accepted = post_delivery(client, path, delivery)

    assert on_other_address.status_code == 401  # signed for another URI
    assert accepted.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.entity_kind, event.topic, event.payload) == ("lead", "contact.creation", {})

    # The same request captured and replayed ten minutes later, re-signed over that old timestamp.
    old = str(int((time.time() - 600) * 1000))
    signature = signatures.hubspot_sign_v3(
        client_secret="sandbox-client-secret",
        method="POST",
        uri=f"{webhook_inbox.url}{path}",
        body=delivery["body"],
        timestamp=old,
    )
    replayed = client.post(
        path,
        data=delivery["body"],
        content_type="application/json",
        headers={signatures.HUBSPOT_SIGNATURE_HEADER: signature, signatures.HUBSPOT_TIMESTAMP_HEADER: old},
    )
    assert replayed.status_code == 401
    assert WebhookEvent.objects.get().deliveries == 1


def test_intercom_signatures_are_checked(client, webhook_inbox, serve_sandbox):
    connection = make_connection("intercom")
    app = IntercomSandbox()
    serve_sandbox(app)
    app.webhooks.configure(url=f"{webhook_inbox.url}/hooks")
    admin = next(iter(app.tables["admin"].values()))
    contact = app.add_contact(email="bo@example.com", name="Bo")
    conversation = app.add_conversation(contact_id=contact["id"], body="Where is my card?")
    call(
        app,
        "POST",
        f"/conversations/{conversation['id']}/parts",
        {"message_type": "close", "type": "admin", "admin_id": admin["id"], "body": "Done"},
    )
    assert app.webhooks.drain()
    [delivery] = webhook_inbox.app.deliveries()
    path = webhook_path(connection)

    bad = {**delivery, "headers": {**delivery["headers"], "x-hub-signature": "sha1=" + "0" * 40}}
    assert post_delivery(client, path, bad).status_code == 401
    assert post_delivery(client, path, delivery).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.entity_kind, event.entity_id, event.payload["state"]) == (
        "ticket",
        conversation["id"],
        "closed",
    )


def test_salesforce_outbound_messages_are_checked_by_org_and_secret_and_acknowledged_in_soap(
    client, webhook_inbox, serve_sandbox
):
    connection = make_connection("salesforce")
    app = SalesforceSandbox()
    serve_sandbox(app)
    app.webhooks.configure(url=f"{webhook_inbox.url}/hooks")
    call(app, "POST", "/services/data/v59.0/sobjects/Lead", {"LastName": "Hopper", "Company": "Navy"})
    assert app.webhooks.drain()
    [delivery] = webhook_inbox.app.deliveries()
    path = webhook_path(connection)

    wrong_secret = post_delivery(client, path.replace("secret=", "secret=x"), delivery)
    other_org = post_delivery(
        client, path, {**delivery, "body": delivery["body"].replace(b"00D0000", b"00D9999")}
    )
    accepted = post_delivery(client, path, delivery)

    assert (wrong_secret.status_code, other_org.status_code) == (401, 401)
    assert accepted.status_code == 200
    assert accepted["Content-Type"].startswith("text/xml")
    assert b"<Ack>true</Ack>" in accepted.content
    event = WebhookEvent.objects.get()
    assert (event.entity_kind, event.payload["LastName"]) == ("lead", "Hopper")
    assert event.event_id.startswith("04l")
    assert Lead.objects.count() == 0


def test_salesforce_xml_with_a_dtd_is_refused(client):
    connection = make_connection("salesforce")
    body = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><x>&b;</x>'
    )

    response = client.post(webhook_path(connection), data=body, content_type="text/xml")

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_unknown_connections_vendors_and_methods_get_nothing(client):
    connection = make_connection("zendesk")

    assert (
        client.post("/webhooks/zendesk/nobody/", data=b"{}", content_type="application/json").status_code
        == 404
    )
    assert (
        client.post(
            f"/webhooks/hubspot/{connection.name}/", data=b"[]", content_type="application/json"
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/webhooks/zendesk/{connection.pk}/", data=b"{}", content_type="application/json"
        ).status_code
        == 401
    )
    assert client.get(webhook_path(connection)).status_code == 405
    connection.is_active = False
    connection.save()
    assert (
        client.post(webhook_path(connection), data=b"{}", content_type="application/json").status_code == 404
    )


def _signed(delivery: dict[str, Any], secret: str) -> dict[str, Any]:
    """``delivery`` signed again with ``secret`` (same body and timestamp)."""
    stamp = delivery["headers"][signatures.ZENDESK_TIMESTAMP_HEADER.lower()]
    headers = signatures.zendesk_headers(secret=secret, body=delivery["body"], timestamp=stamp)
    return {"headers": {k.lower(): v for k, v in headers.items()}, "body": delivery["body"]}


def _empty_post(client, connection) -> int:
    return client.post(webhook_path(connection), data=b"{}", content_type="application/json").status_code


def test_a_rotated_webhook_secret_is_honoured_as_soon_as_it_is_saved(client, webhook_inbox, serve_sandbox):
    connection = make_connection("zendesk")
    first, second = zendesk_deliveries(webhook_inbox, ZendeskSandbox(), serve_sandbox, changes=2)
    assert post_delivery(client, webhook_path(connection), first).status_code == 200  # now kept

    connection.set_credentials({**connection.credentials, "webhook_secret": "rotated-secret"})
    connection.save()

    assert post_delivery(client, webhook_path(connection), second).status_code == 401  # the old secret
    assert (
        post_delivery(client, webhook_path(connection), _signed(second, "rotated-secret")).status_code == 200
    )
    assert WebhookEvent.objects.count() == 2


def test_a_disabled_or_deleted_connection_is_refused_as_soon_as_it_is_saved(client):
    disabled, deleted = make_connection("zendesk"), make_connection("zendesk", name="zendesk-eu")
    assert (_empty_post(client, disabled), _empty_post(client, deleted)) == (401, 401)  # both kept

    disabled.is_active = False
    disabled.save()
    deleted.delete()

    assert (_empty_post(client, disabled), _empty_post(client, deleted)) == (404, 404)


def test_another_process_sees_a_change_once_its_copy_is_older_than_the_ttl(client, monkeypatch):
    from connectors import webhook_targets

    connection = make_connection("zendesk")
    assert _empty_post(client, connection) == 401
    # An update sends no signal: what another worker's copy of the connection is like.
    Connection.objects.filter(pk=connection.pk).update(is_active=False)
    assert _empty_post(client, connection) == 401

    later = time.monotonic() + webhook_targets.TTL_SECONDS + 1
    monkeypatch.setattr(webhook_targets.time, "monotonic", lambda: later)

    assert _empty_post(client, connection) == 404


def test_a_delivery_to_a_kept_connection_needs_no_query_for_it(client, webhook_inbox, serve_sandbox):
    connection = make_connection("zendesk")
    first, second = zendesk_deliveries(webhook_inbox, ZendeskSandbox(), serve_sandbox, changes=2)
    with CaptureQueriesContext(db_connection) as cold:
        assert post_delivery(client, webhook_path(connection), first).status_code == 200
    with CaptureQueriesContext(db_connection) as warm:
        assert post_delivery(client, webhook_path(connection), second).status_code == 200

    # Stored and checked for earlier copies; the connection came from the process's copy.
    assert _statements(warm) == 2, "\n".join(q["sql"] for q in warm.captured_queries)
    assert _statements(cold) == 3


def _statements(queries) -> int:
    """Statements, without the savepoints of the test's own transaction."""
    return sum(1 for q in queries.captured_queries if "SAVEPOINT" not in q["sql"])


def test_a_zendesk_trigger_webhook_signed_with_its_own_secret_is_accepted(client):
    """Zendesk signs a webhook connected to triggers (the satisfaction rating's) with that webhook's
    own secret: with only the event subscription's secret, every rating delivery was refused."""
    connection = make_connection("zendesk")
    connection.set_credentials({**connection.credentials, "trigger_webhook_secret": "the-trigger-secret"})
    connection.save()
    body = json.dumps(
        {
            "id": "7-satisfaction-2026-12-07T10:00:00Z",
            "type": "agentops:ticket.satisfaction_changed",
            "ticket_id": "7",
            "updated_at": "2026-12-07T10:00:00Z",
        }
    ).encode()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def post(secret: str):
        headers = signatures.zendesk_headers(secret=secret, body=body, timestamp=stamp)
        return client.post(
            webhook_path(connection), data=body, content_type="application/json", headers=headers
        )

    assert post("the-trigger-secret").status_code == 200
    assert post(CREDENTIALS["zendesk"]["webhook_secret"]).status_code == 200  # the subscription's, as before
    assert post("somebody-elses-secret").status_code == 401
    assert WebhookEvent.objects.get().deliveries == 2
