import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentops.settings_checks import (
    SettingsError,
    validate_callback_secret,
    validate_production_secrets,
    validate_production_settings,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k3y-" + "abcdefghij" * 6
FERNET_KEY = "uGb1cD5rQ0V8m2nTqYh3sZkLpX7aW9eR4tJfNvB6oMc="
INDEX_KEY = "blind-index-" + "0123456789abcdef" * 3
METRICS = "scrape-" + "fedcba9876543210" * 3
REDACTION_KEY = "audit-redaction-" + "0246813579acegik" * 3
# Everything a DEBUG=false process needs besides SECRET_KEY and ALLOWED_HOSTS.
PRODUCTION_SECRETS = {
    "AGENTOPS_ENCRYPTION_KEYS": FERNET_KEY,
    "AGENTOPS_BLIND_INDEX_KEY": INDEX_KEY,
    "AGENTOPS_AUDIT_REDACTION_KEY": REDACTION_KEY,
    "METRICS_TOKEN": METRICS,
    "AGENTOPS_CALLBACK_HOSTS": "hooks.example.com",
}


def test_it_accepts_anything_in_debug_mode():
    validate_production_settings(debug=True, secret_key="", allowed_hosts=[])


@pytest.mark.parametrize(
    ("secret_key", "hosts", "message"),
    [
        ("", ["app.example.com"], "SECRET_KEY"),
        ("django-insecure-agentops-demo-key-not-for-production", ["app.example.com"], "SECRET_KEY"),
        ("short-key", ["app.example.com"], "at least 50"),
        ("a" * 60, ["app.example.com"], "distinct"),
        (GOOD_KEY, [], "ALLOWED_HOSTS"),
        (GOOD_KEY, [" "], "ALLOWED_HOSTS"),
        (GOOD_KEY, ["*"], "'*' is not allowed"),
    ],
)
def test_it_refuses_unsafe_production_settings(secret_key, hosts, message):
    with pytest.raises(SettingsError, match=message):
        validate_production_settings(debug=False, secret_key=secret_key, allowed_hosts=hosts)


def test_it_accepts_real_production_settings():
    validate_production_settings(debug=False, secret_key=GOOD_KEY, allowed_hosts=["app.example.com"])


def _manage_check(**env):
    ours = ("SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "ENVIRONMENT", "AGENTOPS_CALLBACKS", *PRODUCTION_SECRETS)
    clean = {k: v for k, v in os.environ.items() if k not in ours}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_process_refuses_to_start_in_production_without_a_secret_key():
    result = _manage_check(DEBUG="false", ALLOWED_HOSTS="app.example.com")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY" in result.stderr


def test_the_process_starts_in_production_with_real_settings():
    result = _manage_check(
        DEBUG="false", ALLOWED_HOSTS="app.example.com", SECRET_KEY=GOOD_KEY, **PRODUCTION_SECRETS
    )
    assert result.returncode == 0, result.stderr


def test_redis_url_switches_the_task_broker_to_redis():
    code = "from django.conf import settings; print(settings.Q_CLUSTER.get('redis'), settings.Q_CLUSTER.get('orm'))"
    env = {
        **os.environ,
        "REDIS_URL": "redis://127.0.0.1:6379/3",
        "DJANGO_SETTINGS_MODULE": "agentops.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert result.stdout.split() == ["redis://127.0.0.1:6379/3", "None"]


@pytest.mark.parametrize("secret", ["agentops-demo-callback-secret-not-for-production", "changeme", "x" * 40])
def test_it_refuses_any_shared_callback_secret_now_that_each_key_has_its_own(secret):
    with pytest.raises(SettingsError, match="AGENTOPS_CALLBACK_SECRET: no longer used"):
        validate_callback_secret(secret=secret)


def test_it_is_content_without_a_shared_callback_secret():
    validate_callback_secret(secret="")


def test_the_process_refuses_to_start_in_production_with_the_demo_callback_secret():
    result = _manage_check(
        DEBUG="false",
        ALLOWED_HOSTS="app.example.com",
        SECRET_KEY=GOOD_KEY,
        AGENTOPS_CALLBACK_SECRET="agentops-demo-callback-secret-not-for-production",
        **PRODUCTION_SECRETS,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: AGENTOPS_CALLBACK_SECRET" in result.stderr


# --- DEBUG=false fails closed, whatever ENVIRONMENT says (issue 17) ------------------------------


def _secrets(**changes):
    values = {
        "encryption_keys": [FERNET_KEY],
        "blind_index_key": INDEX_KEY,
        "audit_redaction_key": REDACTION_KEY,
        "metrics_token": METRICS,
        "callbacks": True,
        "callback_hosts": ["hooks.example.com"],
    }
    return {**values, **changes}


def test_it_accepts_explicit_production_secrets():
    validate_production_secrets(debug=False, **_secrets())
    validate_production_secrets(debug=False, **_secrets(callbacks=False, callback_hosts=[]))


def test_it_lets_the_demo_derive_its_keys_and_leave_metrics_open():
    validate_production_secrets(
        debug=True,
        encryption_keys=[],
        blind_index_key="",
        metrics_token="",
        callbacks=True,
        callback_hosts=[],
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"encryption_keys": []}, "AGENTOPS_ENCRYPTION_KEYS: .*required"),
        ({"encryption_keys": [" "]}, "AGENTOPS_ENCRYPTION_KEYS: .*required"),
        ({"encryption_keys": ["not-a-fernet-key"]}, "AGENTOPS_ENCRYPTION_KEYS: .*Fernet"),
        ({"blind_index_key": ""}, "AGENTOPS_BLIND_INDEX_KEY: .*required"),
        ({"blind_index_key": "short"}, "AGENTOPS_BLIND_INDEX_KEY: .*at least 32"),
        ({"blind_index_key": FERNET_KEY}, "AGENTOPS_BLIND_INDEX_KEY: .*not one of the encryption keys"),
        ({"audit_redaction_key": ""}, "AGENTOPS_AUDIT_REDACTION_KEY: .*required"),
        ({"audit_redaction_key": "short"}, "AGENTOPS_AUDIT_REDACTION_KEY: .*at least 32"),
        ({"audit_redaction_key": INDEX_KEY}, "AGENTOPS_AUDIT_REDACTION_KEY: .*separate secret"),
        ({"metrics_token": ""}, "METRICS_TOKEN: .*required"),
        ({"metrics_token": "abc"}, "METRICS_TOKEN: .*at least 32"),
        ({"callback_hosts": []}, "AGENTOPS_CALLBACK_HOSTS: .*required"),
        ({"callback_hosts": ["*"]}, "AGENTOPS_CALLBACK_HOSTS: .*'\\*'"),
    ],
)
def test_it_refuses_derived_or_missing_secrets_when_debug_is_off(changes, message):
    with pytest.raises(SettingsError, match=message):
        validate_production_secrets(debug=False, **_secrets(**changes))


@pytest.mark.parametrize("environment", ["staging", "local-production", "demo"])
def test_the_process_refuses_derived_keys_whenever_debug_is_off(environment):
    """Not only ENVIRONMENT=production: any DEBUG=false process needs its own keys."""
    without_keys = {k: v for k, v in PRODUCTION_SECRETS.items() if k != "AGENTOPS_ENCRYPTION_KEYS"}
    result = _manage_check(
        DEBUG="false",
        ALLOWED_HOSTS="app.example.com",
        SECRET_KEY=GOOD_KEY,
        ENVIRONMENT=environment,
        **without_keys,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: AGENTOPS_ENCRYPTION_KEYS" in result.stderr


@pytest.mark.parametrize(
    "missing",
    ["AGENTOPS_BLIND_INDEX_KEY", "AGENTOPS_AUDIT_REDACTION_KEY", "METRICS_TOKEN", "AGENTOPS_CALLBACK_HOSTS"],
)
def test_the_process_refuses_to_start_without_each_production_secret(missing):
    values = {k: v for k, v in PRODUCTION_SECRETS.items() if k != missing}
    result = _manage_check(DEBUG="false", ALLOWED_HOSTS="app.example.com", SECRET_KEY=GOOD_KEY, **values)
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {missing}" in result.stderr


def test_turning_callbacks_off_needs_no_callback_allow_list():
    values = {k: v for k, v in PRODUCTION_SECRETS.items() if k != "AGENTOPS_CALLBACK_HOSTS"}
    result = _manage_check(
        DEBUG="false",
        ALLOWED_HOSTS="app.example.com",
        SECRET_KEY=GOOD_KEY,
        AGENTOPS_CALLBACKS="false",
        **values,
    )
    assert result.returncode == 0, result.stderr


def test_the_shared_callback_secret_is_gone_so_setting_it_is_refused_even_in_the_demo():
    """Each API key signs with its own secret now; a leftover shared one would only mislead."""
    result = _manage_check(AGENTOPS_CALLBACK_SECRET="x" * 40)
    assert result.returncode != 0
    assert "ImproperlyConfigured: AGENTOPS_CALLBACK_SECRET" in result.stderr


def _settings_of(**env) -> dict[str, str]:
    code = (
        "from django.conf import settings; "
        "print(settings.API_SCHEMA_PUBLIC, settings.AGENTOPS_CALLBACK_HTTPS_ONLY, settings.AGENTOPS_CALLBACKS)"
    )
    ours = ("SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "ENVIRONMENT", "AGENTOPS_CALLBACKS", *PRODUCTION_SECRETS)
    clean = {k: v for k, v in os.environ.items() if k not in ours}
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT, env={**clean, "DJANGO_SETTINGS_MODULE": "agentops.settings", **env},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return dict(zip(["schema_public", "https_only", "callbacks"], result.stdout.split(), strict=True))


def test_debug_off_closes_the_schema_and_takes_only_https_callbacks():
    production = _settings_of(
        DEBUG="false", ALLOWED_HOSTS="app.example.com", SECRET_KEY=GOOD_KEY, **PRODUCTION_SECRETS
    )
    assert production == {"schema_public": "False", "https_only": "True", "callbacks": "True"}
    assert _settings_of() == {"schema_public": "True", "https_only": "False", "callbacks": "True"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_the_api_schema_and_its_viewer_need_a_sign_in_in_production(settings, path):
    from rest_framework.test import APIClient

    from tests.factories import UserFactory

    settings.API_SCHEMA_PUBLIC = False
    anonymous = APIClient().get(path)
    assert anonymous.status_code in (401, 403)
    assert b"openapi" not in anonymous.content.lower()
    signed_in = APIClient()
    signed_in.force_authenticate(UserFactory())
    assert signed_in.get(path).status_code == 200
    settings.API_SCHEMA_PUBLIC = True
    assert APIClient().get(path).status_code == 200
