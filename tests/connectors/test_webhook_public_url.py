"""HubSpot's v3 signature behind a TLS-terminating proxy: HubSpot signs the public https URL it
called (with its documented decoding of some percent-encoded characters); the app, reached over
plain http from the proxy, checks it against ``AGENTOPS_BASE_URL`` plus the path and query.

The HubSpot sandbox signs over its ``public_webhook_url`` (what HubSpot was told) while it delivers
to a local inbox; the test client then posts each delivery to the app over plain http.
"""

from __future__ import annotations

import pytest
from django.test import Client

from connectors import signatures
from connectors.models import WebhookEvent
from connectors.sandbox.hubspot import HubSpotSandbox
from tests.connectors.inbound_support import call, make_connection, post_delivery, webhook_path

pytestmark = pytest.mark.django_db

PUBLIC = "https://public.example"


def _delivered(webhook_inbox, serve_sandbox, *, public_url: str) -> dict:
    """One contact creation, signed by the sandbox over ``public_url`` and captured by the inbox."""
    app = HubSpotSandbox()
    serve_sandbox(app)
    app.webhooks.configure(url=f"{webhook_inbox.url}/hooks")
    app.public_webhook_url = public_url
    call(app, "POST", "/crm/v3/objects/contacts", {"properties": {"email": "ada@example.com"}})
    assert app.webhooks.drain()
    [delivery] = webhook_inbox.app.deliveries()
    return delivery


def test_it_accepts_a_hubspot_delivery_signed_for_the_public_https_url_and_received_over_http(
    settings, webhook_inbox, serve_sandbox
):
    settings.AGENTOPS_BASE_URL = PUBLIC
    connection = make_connection("hubspot")
    path = webhook_path(connection)
    delivery = _delivered(webhook_inbox, serve_sandbox, public_url=f"{PUBLIC}{path}")

    response = post_delivery(Client(), path, delivery)  # http://testserver/…, as the proxy forwards it

    assert response.status_code == 200
    assert WebhookEvent.objects.get().topic == "contact.creation"


def test_it_refuses_a_delivery_signed_for_another_public_address(settings, webhook_inbox, serve_sandbox):
    settings.AGENTOPS_BASE_URL = PUBLIC
    connection = make_connection("hubspot")
    path = webhook_path(connection)
    delivery = _delivered(webhook_inbox, serve_sandbox, public_url=f"https://elsewhere.example{path}")

    response = post_delivery(Client(), path, delivery)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_it_checks_a_percent_encoded_query_as_hubspot_decodes_it(settings, webhook_inbox, serve_sandbox):
    settings.AGENTOPS_BASE_URL = PUBLIC
    connection = make_connection("hubspot")
    # What the app's owner typed as the target URL at HubSpot: reserved characters percent-encoded.
    target = f"{webhook_path(connection)}?portal=eu%3A62515&return=%2Fdone%3Fok%21&note=a%20b"
    delivery = _delivered(webhook_inbox, serve_sandbox, public_url=f"{PUBLIC}{target}")

    response = post_delivery(Client(), target, delivery)

    assert response.status_code == 200
    assert WebhookEvent.objects.count() == 1


def test_a_base_url_with_a_path_prefix_is_the_start_of_the_signed_uri(settings, webhook_inbox, serve_sandbox):
    # The proxy serves the app under /agentops/ and forwards /agentops/x to the app's /x.
    settings.AGENTOPS_BASE_URL = f"{PUBLIC}/agentops"
    connection = make_connection("hubspot")
    path = webhook_path(connection)
    delivery = _delivered(webhook_inbox, serve_sandbox, public_url=f"{PUBLIC}/agentops{path}")

    assert post_delivery(Client(), path, delivery).status_code == 200


def test_hubspot_decodes_only_its_listed_characters_before_signing() -> None:
    encoded = "https://public.example/hook?a=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B&b=%20%26%3D%2B%23%25"

    decoded = signatures.hubspot_decoded_uri(encoded)

    assert decoded == "https://public.example/hook?a=:/?@!$'()*,;&b=%20%26%3D%2B%23%25"
    assert signatures.hubspot_decoded_uri("https://x/h?a=%3a%2f") == "https://x/h?a=:/"  # either case


def test_a_signature_over_the_decoded_uri_verifies_against_the_encoded_one() -> None:
    signed = signatures.hubspot_sign_v3(
        client_secret="s", method="POST", uri="https://x/h?a=b:c", body=b"[]", timestamp="1000"
    )

    assert signatures.hubspot_verify_v3(
        client_secret="s",
        method="POST",
        uri="https://x/h?a=b%3Ac",
        body=b"[]",
        signature=signed,
        timestamp="1000",
        now=1.0,
    )
