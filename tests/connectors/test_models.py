"""Connections: encrypted credentials that rotate, read-only by default, secrets never shown."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.urls import reverse

from connectors import crypto
from connectors.base import ConnectionConfig
from connectors.choices import Vendor
from connectors.hubspot.connector import HubSpotConnector
from connectors.models import Connection
from connectors.registry import connector_for, vendors
from connectors.sandbox.hubspot import HubSpotSandbox
from connectors.services import connections_reencrypt

pytestmark = pytest.mark.django_db

SECRET = "pat-na1-11111111-2222-3333-4444-555555555555"
OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def make_connection(**fields) -> Connection:
    connection = Connection(
        name=fields.pop("name", "HubSpot portal"),
        vendor=fields.pop("vendor", Vendor.HUBSPOT),
        base_url=fields.pop("base_url", "https://api.hubapi.com"),
        **fields,
    )
    connection.set_credentials({"access_token": SECRET})
    connection.save()
    return connection


def test_it_stores_credentials_encrypted_and_reads_them_back():
    connection = make_connection()

    stored = Connection.objects.get(pk=connection.pk)

    assert SECRET not in stored.credentials_encrypted
    assert stored.credentials == {"access_token": SECRET}
    assert Connection.objects.filter(credentials_encrypted__contains="pat-na1").count() == 0


def test_it_encrypts_the_same_credentials_differently_each_time():
    connection = make_connection()
    first = connection.credentials_encrypted

    connection.set_credentials({"access_token": SECRET})

    assert connection.credentials_encrypted != first
    assert connection.credentials == {"access_token": SECRET}


def test_a_rotated_key_still_decrypts_until_everything_is_reencrypted():
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=[OLD_KEY]):
        connection = make_connection()
        without = make_connection(name="Without secrets")
        without.set_credentials({})
        without.save()
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        assert Connection.objects.get(pk=connection.pk).credentials == {"access_token": SECRET}
        assert connections_reencrypt() == 1
        assert connections_reencrypt() == 0  # safe to run twice
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=[NEW_KEY]):
        assert Connection.objects.get(pk=connection.pk).credentials == {"access_token": SECRET}


def test_a_dropped_key_makes_the_secret_unreadable_but_never_shows_it():
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=[OLD_KEY]):
        connection = make_connection()
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=[NEW_KEY]):
        stored = Connection.objects.get(pk=connection.pk)
        with pytest.raises(crypto.DecryptionError):
            stored.credentials  # noqa: B018
        assert stored.masked_credentials() == "(cannot be decrypted with the configured keys)"


def test_without_keys_only_the_demo_derives_one_from_the_secret_key():
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=[], ENVIRONMENT="demo"):
        assert crypto.decrypt(crypto.encrypt("x")) == "x"
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=[], ENVIRONMENT="production"):
        with pytest.raises(ImproperlyConfigured, match="AGENTOPS_ENCRYPTION_KEYS must be set"):
            crypto.encrypt("x")
    with override_settings(AGENTOPS_ENCRYPTION_KEYS=["not-a-fernet-key"]):
        with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
            crypto.encrypt("x")


def test_a_connection_is_read_only_until_granted_write_scopes():
    connection = make_connection()

    assert connection.write_scopes == []
    assert not connection.may_write("create_task")
    connection.write_scopes = ["create_task"]
    assert connection.may_write("create_task")
    assert not connection.may_write("assign_owner")
    connection.is_active = False
    assert not connection.may_write("create_task")


def test_it_refuses_unknown_or_repeated_write_scopes():
    connection = make_connection(write_scopes=["create_task", "drop_database"])
    with pytest.raises(ValidationError, match="Unknown action kinds: drop_database"):
        connection.full_clean()

    connection.write_scopes = ["create_task", "create_task"]
    with pytest.raises(ValidationError, match="Each action kind once"):
        connection.full_clean()

    connection.write_scopes = "create_task"
    with pytest.raises(ValidationError, match="A list of action kinds"):
        connection.full_clean()


@pytest.mark.parametrize(
    ("field", "value", "constraint"),
    [
        ("vendor", "myspace", "connection_vendor_known"),
        ("timeout_seconds", 0.0, "connection_timeout_in_range"),
    ],
)
def test_the_database_refuses_an_unknown_vendor_or_a_timeout_out_of_range(field, value, constraint):
    connection = make_connection()
    setattr(connection, field, value)

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        connection.save()


def test_every_registered_connector_is_a_vendor_choice():
    assert vendors() == sorted(Vendor.values)


def test_its_config_points_a_connector_at_the_sandbox(serve_sandbox):
    sandbox = serve_sandbox(HubSpotSandbox())
    connection = make_connection(base_url=sandbox.url, timeout_seconds=1.5, options={"marker_property": "m"})
    connection.set_credentials({"access_token": "sandbox-token"})

    config = connection.config()
    connector = connector_for(config)

    assert (config.vendor, config.timeout_seconds, dict(config.options)) == (
        "hubspot",
        1.5,
        {"marker_property": "m"},
    )
    assert isinstance(connector, HubSpotConnector)
    [written] = connector.upsert(
        "contact", id_property="agentops_external_id", records=[{"agentops_external_id": "x"}]
    )
    assert connector.read("contact", written.vendor_id).external_id == "x"


def test_a_config_never_shows_its_secrets_when_logged():
    config = make_connection().config()

    assert SECRET not in repr(config)
    assert config.credentials == {"access_token": SECRET}
    assert isinstance(config, ConnectionConfig)


def test_the_history_records_changes_but_not_the_secret():
    connection = make_connection()
    connection.write_scopes = ["create_task"]
    connection.save()

    history = list(connection.history.order_by("history_date"))

    assert [h.write_scopes for h in history] == [[], ["create_task"]]
    assert not hasattr(history[0], "credentials_encrypted")


def test_the_admin_takes_credentials_write_only_and_never_shows_them(admin_client):
    add = admin_client.post(
        reverse("admin:connectors_connection_add"),
        {
            "name": "Sales org",
            "vendor": "salesforce",
            "base_url": "https://acme.my.salesforce.com",
            "new_credentials": f'{{"access_token": "{SECRET}"}}',
            "timeout_seconds": "10",
            "options": "{}",
            "write_scopes": ["create_task", "assign_owner"],
            "is_active": "on",
        },
    )
    assert add.status_code == 302, add.content.decode()[:2000]
    connection = Connection.objects.get(name="Sales org")
    assert connection.credentials == {"access_token": SECRET}
    assert sorted(connection.write_scopes) == ["assign_owner", "create_task"]

    change_url = reverse("admin:connectors_connection_change", args=[connection.pk])
    pages = [
        admin_client.get(change_url),
        admin_client.get(reverse("admin:connectors_connection_changelist")),
        admin_client.get(reverse("admin:connectors_connection_history", args=[connection.pk])),
    ]
    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert SECRET not in html
        assert connection.credentials_encrypted not in html
    assert "access_token: ••••••••" in pages[0].content.decode()

    # Saving without typing credentials keeps the stored ones.
    keep = admin_client.post(
        change_url,
        {
            "name": "Sales org",
            "vendor": "salesforce",
            "base_url": "https://acme.my.salesforce.com",
            "new_credentials": "",
            "timeout_seconds": "5",
            "options": "{}",
            "is_active": "on",
        },
    )
    assert keep.status_code == 302
    connection.refresh_from_db()
    assert (connection.credentials, connection.timeout_seconds, connection.write_scopes) == (
        {"access_token": SECRET},
        5.0,
        [],
    )


def test_the_admin_refuses_credentials_that_are_not_a_json_object_of_strings(admin_client):
    answer = admin_client.post(
        reverse("admin:connectors_connection_add"),
        {
            "name": "Bad",
            "vendor": "hubspot",
            "base_url": "https://api.hubapi.com",
            "new_credentials": '["token"]',
            "timeout_seconds": "10",
            "options": "{}",
        },
    )

    assert answer.status_code == 200
    assert "A JSON object of strings." in answer.content.decode()
    assert not Connection.objects.exists()
