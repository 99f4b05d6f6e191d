"""API keys: hashed storage, scopes per endpoint, expiry, rotation with overlap, revocation, per-key throttling."""

from __future__ import annotations

import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import DecisionLogEntry
from security.keys import key_hash, key_prefix
from security.models import ApiKey
from security.services import ApiKeyError, apikey_create, apikey_revoke, apikey_rotate
from tests.factories import LeadFactory, ProposedActionFactory, UserFactory, user_in_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration():
    """An automation account of the ops admins: proposes and decides actions (deciding follows the
    role, security.roles; integration accounts never decide) and writes leads (its permissions)."""
    user = user_in_role("Ops admins", username="hubspot-sync")
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["add_proposedaction", "change_proposedaction", "add_lead", "change_lead"]
        )
    )
    return user


def _client(plain, keyword="Bearer"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {plain}")
    return client


def _key(user, *scopes, **kwargs):
    return apikey_create(user=user, name="HubSpot sync", scopes=scopes, **kwargs)


def test_it_stores_only_a_hash_and_a_short_prefix(integration):
    issued = _key(integration, "read_leads")
    stored = ApiKey.objects.get(pk=issued.key.pk)
    assert issued.plain.startswith(f"ak_{stored.prefix}_") and key_prefix(issued.plain) == stored.prefix
    assert stored.hashed_key == key_hash(issued.plain) and issued.plain not in str(stored.__dict__)
    entry = DecisionLogEntry.objects.get(event_type="api_key.created")
    assert issued.plain not in str(entry.action_taken) and entry.action_taken["prefix"] == stored.prefix
    assert issued.callback_secret not in str(entry.action_taken)


def test_it_keeps_each_keys_callback_secret_encrypted_at_rest(integration):
    from django.db import connection

    issued = _key(integration, "submit_actions")
    other = _key(integration, "submit_actions")
    assert issued.callback_secret and issued.callback_secret != other.callback_secret
    assert ApiKey.objects.get(pk=issued.key.pk).callback_secret == issued.callback_secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT callback_secret FROM security_apikey WHERE id = %s", [issued.key.pk])
        raw = cursor.fetchone()[0]
    assert raw.startswith("enc1:") and issued.callback_secret not in raw


def test_a_key_reads_what_its_scope_allows_and_nothing_else(integration):
    LeadFactory()
    client = _client(_key(integration, "read_leads").plain)
    assert client.get("/api/v1/leads/").status_code == 200
    refused = client.get("/api/v1/tickets/")
    assert refused.status_code == 403 and "read_tickets" in refused.json()["detail"]
    assert client.get("/api/v1/actions/").status_code == 403
    assert client.post("/api/v1/leads/bulk/", {"leads": []}, format="json").status_code == 403


@pytest.mark.parametrize(
    ("method", "url", "scope"),
    [
        ("get", "/api/v1/leads/", "read_leads"),
        ("get", "/api/v1/tickets/", "read_tickets"),
        ("get", "/api/v1/actions/", "read_actions"),
        ("get", "/api/v1/model-versions/", "read_models"),
        ("post", "/api/v1/actions/", "submit_actions"),
        ("post", "/api/v1/actions/{pk}/approve/", "decide_actions"),
        ("post", "/api/v1/actions/{pk}/reject/", "decide_actions"),
        ("post", "/api/v1/leads/bulk/", "write_leads"),
    ],
)
def test_each_endpoint_needs_its_scope(integration, method, url, scope):
    pk = ProposedActionFactory().pk
    others = [s for s in ("read_leads", "webhooks", "export_audit") if s != scope]
    without = _client(_key(integration, *others).plain)
    with_scope = _client(_key(integration, scope).plain)
    url = url.format(pk=pk)
    assert getattr(without, method)(url, {}, format="json").status_code == 403
    assert getattr(with_scope, method)(url, {}, format="json").status_code not in (401, 403)


def test_an_agent_polls_the_action_it_proposed_with_the_submit_scope(integration):
    action = ProposedActionFactory(proposed_by_user=integration)
    someone_elses = ProposedActionFactory()
    client = _client(_key(integration, "submit_actions").plain, keyword="Api-Key")
    assert client.get(f"/api/v1/actions/{action.pk}/").status_code == 200
    # Only what it proposed: reading more takes read_actions (or deciding).
    assert client.get(f"/api/v1/actions/{someone_elses.pk}/").status_code == 404
    assert client.get("/api/v1/actions/").status_code == 403


def test_wrong_expired_revoked_or_inactive_keys_are_refused_alike(integration):
    good = _key(integration, "read_leads")
    expired = _key(integration, "read_leads", expires_at=timezone.now() + timedelta(seconds=1))
    ApiKey.objects.filter(pk=expired.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked = _key(integration, "read_leads")
    apikey_revoke(key_id=revoked.key.pk)
    tampered = good.plain[:-4] + "AAAA"
    for plain in (tampered, expired.plain, revoked.plain, "ak_short_x", "not-a-key"):
        response = _client(plain).get("/api/v1/leads/")
        assert response.status_code == 401, plain
        assert "key" in response.json()["detail"]
    assert _client(good.plain).get("/api/v1/leads/").status_code == 200
    integration.is_active = False
    integration.save()
    assert _client(good.plain).get("/api/v1/leads/").status_code == 401


def test_rotation_keeps_the_old_key_working_until_the_overlap_ends(integration):
    old = _key(integration, "read_leads", "submit_actions")
    new = apikey_rotate(key_id=old.key.pk, overlap=timedelta(hours=2))
    assert new.key.scopes == ["read_leads", "submit_actions"] and new.key.rotated_from_id == old.key.pk
    assert _client(old.plain).get("/api/v1/leads/").status_code == 200
    assert _client(new.plain).get("/api/v1/leads/").status_code == 200
    old.key.refresh_from_db()
    assert timezone.now() + timedelta(hours=1) < old.key.expires_at <= timezone.now() + timedelta(hours=2)
    ApiKey.objects.filter(pk=old.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _client(old.plain).get("/api/v1/leads/").status_code == 401
    assert _client(new.plain).get("/api/v1/leads/").status_code == 200
    with pytest.raises(ApiKeyError):
        apikey_rotate(key_id=old.key.pk, overlap=timedelta(hours=2))


def test_revocation_takes_effect_at_once(integration):
    issued = _key(integration, "read_leads")
    client = _client(issued.plain)
    assert client.get("/api/v1/leads/").status_code == 200
    apikey_revoke(key_id=issued.key.pk)
    assert client.get("/api/v1/leads/").status_code == 401
    assert DecisionLogEntry.objects.filter(event_type="api_key.revoked").count() == 1


def test_unknown_scopes_and_past_expiries_are_refused(integration):
    with pytest.raises(ApiKeyError, match="Unknown scope"):
        _key(integration, "read_everything")
    with pytest.raises(ApiKeyError, match="at least one scope"):
        _key(integration)
    with pytest.raises(ApiKeyError, match="future"):
        _key(integration, "read_leads", expires_at=timezone.now() - timedelta(days=1))


def test_each_key_has_its_own_budget_and_answers_429_with_retry_after(integration):
    tight = _key(integration, "read_leads", rate_per_minute=2)
    other = _key(integration, "read_leads", rate_per_minute=2)
    client = _client(tight.plain)
    assert [client.get("/api/v1/leads/").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/api/v1/leads/")
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert _client(other.plain).get("/api/v1/leads/").status_code == 200


def test_it_logs_the_prefix_and_never_the_key(integration, caplog):
    issued = _key(integration, "read_leads")
    with caplog.at_level(logging.INFO, logger="security.authentication"):
        _client(issued.plain).get("/api/v1/leads/")
        _client(issued.plain[:-2] + "zz").get("/api/v1/leads/")
    assert f"ak_{issued.key.prefix}" in caplog.text and issued.plain not in caplog.text
    assert issued.plain[-20:] not in caplog.text


def test_the_key_acts_as_its_user_whose_permissions_still_apply():
    reader = UserFactory(username="reader")
    issued = _key(reader, "submit_actions")
    response = _client(issued.plain).post("/api/v1/actions/", {}, format="json")
    assert response.status_code == 403 and "add_proposedaction" in response.json()["detail"]


def test_the_command_issues_a_key_printed_once_and_rotates_it(integration):
    out = StringIO()
    call_command(
        "create_api_key",
        user="hubspot-sync",
        name="HubSpot",
        scope=["read_leads"],
        days=30,
        stdout=out,
        stderr=StringIO(),
    )
    plain, callback_secret = out.getvalue().split()
    key = ApiKey.objects.get(prefix=key_prefix(plain))
    assert key.callback_secret == callback_secret and callback_secret.startswith("whsec_")
    assert key.scopes == ["read_leads"] and key.expires_at > timezone.now() + timedelta(days=29)
    assert _client(plain).get("/api/v1/leads/").status_code == 200
    out = StringIO()
    call_command("create_api_key", rotate=key.prefix, overlap_hours=1, stdout=out, stderr=StringIO())
    successor, new_secret = out.getvalue().split()
    assert ApiKey.objects.get(rotated_from=key).prefix == key_prefix(successor)
    assert ApiKey.objects.get(rotated_from=key).callback_secret == new_secret != callback_secret
    with pytest.raises(CommandError, match="required"):
        call_command("create_api_key", user="hubspot-sync", stdout=StringIO(), stderr=StringIO())


def test_the_admin_shows_the_plain_key_once_and_stores_its_hash(client, integration):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post(
        "/admin/security/apikey/add/",
        {
            "name": "Zendesk",
            "user": integration.pk,
            "scopes": ["read_tickets"],
            "expires_at": "",
            "rate_per_minute": 60,
        },
        follow=True,
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="Zendesk")
    shown = [str(m) for m in response.context["messages"]]
    assert any(f"ak_{key.prefix}_" in m for m in shown)
    plain = next(m for m in shown if "ak_" in m).split("<code>")[1].split("</code>")[0]
    assert key_hash(plain) == key.hashed_key and key.scopes == ["read_tickets"]
    secret = next(m for m in shown if "ak_" in m).split("<code>")[2].split("</code>")[0]
    assert secret == key.callback_secret and secret.startswith("whsec_")
    page = client.get(f"/admin/security/apikey/{key.pk}/change/")
    assert page.status_code == 200 and plain not in page.content.decode()
    assert secret not in page.content.decode()
    client.post(
        f"/admin/security/apikey/{key.pk}/change/",
        {"name": "Zendesk EU", "scopes": '["read_leads"]', "rate_per_minute": 99999},
    )
    key.refresh_from_db()
    assert (key.name, key.scopes, key.rate_per_minute) == ("Zendesk EU", ["read_tickets"], 60)


def test_the_admin_rotates_and_revokes_keys(client, integration):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    first, second = _key(integration, "read_leads"), _key(integration, "read_leads")
    changelist = "/admin/security/apikey/"
    client.post(changelist, {"action": "rotate_keys", "_selected_action": [first.key.pk]})
    successor = ApiKey.objects.get(rotated_from=first.key)
    assert successor.scopes == ["read_leads"]
    client.post(changelist, {"action": "revoke_keys", "_selected_action": [second.key.pk]})
    second.key.refresh_from_db()
    assert second.key.revoked_at is not None
    assert _client(second.plain).get("/api/v1/leads/").status_code == 401
    assert _client(first.plain).get("/api/v1/leads/").status_code == 200  # still inside the overlap


def test_session_and_basic_authentication_keep_working(integration):
    session = APIClient()
    session.force_login(integration)
    assert session.get("/api/v1/leads/").status_code == 200
    basic = APIClient()
    basic.credentials(
        HTTP_AUTHORIZATION="Basic " + __import__("base64").b64encode(b"hubspot-sync:pw-for-tests-1").decode()
    )
    assert basic.get("/api/v1/leads/").status_code == 200


def test_it_records_a_keys_last_use_at_most_once_a_minute(integration):
    issued = _key(integration, "read_leads")
    client = _client(issued.plain)
    client.get("/api/v1/leads/")
    first = ApiKey.objects.get(pk=issued.key.pk).last_used_at
    client.get("/api/v1/leads/")
    assert first is not None and ApiKey.objects.get(pk=issued.key.pk).last_used_at == first

    ApiKey.objects.filter(pk=issued.key.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/v1/leads/")
    assert ApiKey.objects.get(pk=issued.key.pk).last_used_at > first


def test_a_stale_copy_of_a_key_does_not_overwrite_a_newer_last_use(integration):
    from security.services import apikey_mark_used

    issued = _key(integration, "read_leads")
    stale = ApiKey.objects.get(pk=issued.key.pk)  # read before another worker marked it used
    recent = timezone.now() - timedelta(seconds=5)
    ApiKey.objects.filter(pk=issued.key.pk).update(last_used_at=recent)

    apikey_mark_used(key=stale)

    assert ApiKey.objects.get(pk=issued.key.pk).last_used_at == recent
