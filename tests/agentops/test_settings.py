import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentops.settings_checks import SettingsError, validate_callback_secret, validate_production_settings

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k3y-" + "abcdefghij" * 6


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
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS", "DEBUG")}
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
    result = _manage_check(DEBUG="false", ALLOWED_HOSTS="app.example.com", SECRET_KEY=GOOD_KEY)
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


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("agentops-demo-callback-secret-not-for-production", "demo secret is not allowed"),
        ("changeme", "demo secret is not allowed"),
        ("too-short-secret", "at least 32 characters"),
    ],
)
def test_it_refuses_the_demo_or_a_short_callback_secret_in_production(secret, message):
    with pytest.raises(SettingsError, match=f"AGENTOPS_CALLBACK_SECRET: .*{message}"):
        validate_callback_secret(debug=False, secret=secret)


def test_it_allows_no_callback_secret_in_production_which_turns_callbacks_off():
    validate_callback_secret(debug=False, secret="")
    validate_callback_secret(debug=False, secret="x" * 40)
    validate_callback_secret(debug=True, secret="agentops-demo-callback-secret-not-for-production")


def test_the_process_refuses_to_start_in_production_with_the_demo_callback_secret():
    result = _manage_check(
        DEBUG="false",
        ALLOWED_HOSTS="app.example.com",
        SECRET_KEY=GOOD_KEY,
        AGENTOPS_CALLBACK_SECRET="agentops-demo-callback-secret-not-for-production",
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: AGENTOPS_CALLBACK_SECRET" in result.stderr
